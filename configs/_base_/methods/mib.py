# MiB: unbiased cross-entropy + unbiased knowledge distillation (weight 10)
# from the frozen previous model; new classifiers start from background's.
method = dict(
    model=dict(
        type='MiBSegmentor',
        init_new_classifier='background',
        unce_loss=dict(type='UnbiasedCrossEntropyLoss', loss_weight=1.0),
        unkd_loss=dict(type='UnbiasedKDLoss', alpha=1.0, loss_weight=10.0)),
    incremental=dict(method='mib'))
