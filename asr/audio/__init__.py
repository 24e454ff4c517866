"""Audio in: reading files and streams, augmentation, speech detection and cutting at pauses.

    io        any file or array in, mono float32 at 16 kHz out; levels
    blocks    reading long files block by block, and what a damaged file is missing
    augment   rooms, noise, telephone and level changes that make synthetic speech sound real
    vad       silero-vad's speech probability per 32 ms frame
    segment   speech regions and decodable segments cut in pauses, for files
    endpoint  the same frame rule over a live stream: utterances as they end

Nothing here knows about the model.
"""
