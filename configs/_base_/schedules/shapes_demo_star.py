# The CPU demo schedule for STAR: at t > 0 a base learning rate of 0.002,
# 1/25 of step 0's (the STAR method files add x10 on the head and x100 on
# the new classifier). Chosen over 5e-4, 1e-3 and 5e-3 on seeds 1-3 of the
# 15-1 overlapped demo (docs/results.md).
_base_ = ['./shapes_demo.py']
incremental = dict(
    step_overrides=dict(
        inc=dict(optim_wrapper=dict(optimizer=dict(lr=0.002)))))
