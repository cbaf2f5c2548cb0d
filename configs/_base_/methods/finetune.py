# Fine-tuning: plain cross-entropy on the step's labels (old classes are
# background), no old model. The lower bound of every protocol.
# (A method file defines one key, `method`, merged into the config on load.)
method = dict(
    model=dict(type='IncrementalEncoderDecoder'),
    incremental=dict(method='finetune'))
