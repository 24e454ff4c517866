"""Decoding: functions over the model that turn audio into text with timings.

    search      greedy and beam search with CTC prefix scores and LM fusion
    ctc_prefix  CTC prefix scoring for joint decoding
    alignment   character and word times from the attention matrix
    presets     the named decoding settings every front end takes its defaults from
    transcribe  audio of any length in, segments, text and timings out
    written     the written form: numerals, capitals, punctuation
    process     decoding in child processes, for servers
"""
