"""Training: configs, data, cached encoder states, and the trainers.

    config          a recipe's YAML as dataclasses, and the learning-rate schedule
    manifest        JSONL manifests of utterances
    data            utterances, on-the-fly augmentation, duration-bucketed batches
    encoder_states  a cache of a frozen encoder's states
    trainer         the LAS trainer: resumable at any step, best checkpoints averaged
    resumable       deferred stop signals and random state
    lm              training the character LM, and bundling it with the lexicon and word LM
    punctuator      training the punctuator
    widen           widening a trained listener or speller without changing its output
    swap_listener   moving a trained adapter and speller onto another encoder
"""
