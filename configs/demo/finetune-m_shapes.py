# Fine-tuning with an exemplar memory on the synthetic "shapes" data (the CPU
# demo): replay of stored images, the baseline prototype replay saves the
# storage of. 50 training images are kept after each step (the STAR authors'
# class-balanced sampling) and added to the next steps' training sets with
# the labels of every class seen so far (SSUL's choice, memory.labels='seen':
# with the STAR authors' labels, 'step', old objects in the memory images
# would be background and teach fine-tuning to forget them). The protocol
# leaves (finetune-m_shapes-<task>-<setting>.py) inherit this file.
_base_ = ['./finetune_shapes.py']
incremental = dict(method='finetune_m', memory=dict(size=50, labels='seen'))
