"""What people use: transcripts in files, scoring, the microphone and the web demo.

    formats         txt, json, jsonl, srt and vtt
    inputs          what ``asr transcribe`` reads: files, folders, globs, manifests, stdin
    evaluate        CER and WER on a manifest, hypotheses, the worst alignments
    microphone      ``asr listen``: capture, cut at pauses, transcribe
    live            one browser tab's microphone stream, decoded as it arrives
    live_transport  numbered chunks posted to a route that only queues
    alignment_view  the interactive view of which audio each character attended to
    demo            the Gradio demo
"""
