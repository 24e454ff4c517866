"""ProcessModel: the same transcription as the model in this process, and a dead child is one clear error."""

import os
import signal
import time

import numpy as np
import pytest
import torch

from asr.model.checkpoint import load_model, save_checkpoint
from asr.decoding.search import DecodeOptions, DecodingStopped
from asr.decoding.process import DecodingProcessError, ProcessModel
from conftest import speak, tiny_model


@pytest.fixture(scope="module")
def checkpoint(tmp_path_factory):
    torch.manual_seed(0)
    model = tiny_model()
    with torch.no_grad():
        model.speller.classify.bias[model.vocabulary.eos_id] = -50.0  # always some text to compare
    path = tmp_path_factory.mktemp("ckpt") / "tiny.pt"
    save_checkpoint(model, path)
    return path


@pytest.fixture(scope="module")
def process_model(checkpoint):
    model = ProcessModel(checkpoint, processes=1)
    model.start()
    yield model
    model.close()


def test_ready_once_every_child_has_loaded_the_checkpoint(checkpoint):
    model = ProcessModel(checkpoint, processes=2)
    try:
        assert not model.ready  # not started
        model.start(wait=False)  # returns at once; the children load in the background
        deadline = time.monotonic() + 120
        while not model.ready and time.monotonic() < deadline:
            time.sleep(0.1)
        assert model.ready
    finally:
        model.close()


def test_a_child_transcribes_as_this_process_does(checkpoint, process_model, tmp_path):
    audio = speak("open the door", tmp_path / "speech.wav")
    options = DecodeOptions(beam_size=2)
    here = load_model(checkpoint).transcribe(audio, options=options)
    there = process_model.transcribe(audio, options=options)
    assert there.text == here.text and there.text
    np.testing.assert_allclose(there.segments[0].attention, here.segments[0].attention, atol=1e-5)


def test_a_stopped_call_stops_the_childs_search_and_frees_its_slot(process_model, tmp_path):
    speech = speak("open the door and close the window", tmp_path / "speech.wav")
    audio = np.concatenate([speech] * 8)  # the tiny model spells on to its length bound: seconds of search
    began = time.monotonic()
    with pytest.raises(DecodingStopped):  # the child's search saw the shared flag
        process_model.transcribe(audio, options=DecodeOptions(), stop=lambda: time.monotonic() - began > 0.05)
    assert all(flag == 0 for flag in process_model._stop_flags)
    assert len(process_model._free_slots) == len(process_model._stop_flags)
    done = process_model.transcribe(speech, options=DecodeOptions(), stop=lambda: False)
    assert done.text  # a stop that stays false lets the call finish


def test_a_killed_child_fails_its_call_with_one_line_and_the_next_call_starts_a_new_one(process_model):
    audio = np.zeros(8_000, dtype=np.float32)
    options = DecodeOptions()
    pid = process_model._call(os.getpid)
    os.kill(pid, signal.SIGKILL)
    with pytest.raises(DecodingProcessError, match="stopped") as error:
        process_model.transcribe(audio, options=options)
    assert "\n" not in str(error.value)
    assert process_model.transcribe(audio, options=options).text is not None
    assert process_model._call(os.getpid) != pid


def test_a_checkpoint_that_does_not_load_is_a_decoding_process_error(tmp_path):
    bad = tmp_path / "truncated.pt"
    bad.write_bytes(b"PK\x03\x04 not a whole checkpoint")
    model = ProcessModel(bad)
    try:
        with pytest.raises(DecodingProcessError, match="truncated.pt"):
            model.start()
    finally:
        model.close()
