"""The model and everything one checkpoint holds.

    features     log-mel front end, normalisation, SpecAugment
    whisper      Whisper's audio encoder as plain PyTorch modules
    ctranslate2  reading that encoder's weights out of a CTranslate2 model.bin
    listener     the pyramidal BLSTM, or a frozen pretrained encoder under a trainable adapter
    attention    dot-product, additive, location-aware and multi-head attention
    speller      the character LSTM decoder
    las          the LAS model: listener, attention, speller and a CTC head
    vocab        the characters it spells
    char_lm      a character LM for shallow fusion
    word_lm      a word n-gram LM (bigrams, trigrams) with look-ahead over characters
    lexicon      the words of the language, for preferring real words
    punctuator   capitals and punctuation for the spelled words
    checkpoint   one self-contained file: config, vocabulary, weights, LMs, provenance
"""
