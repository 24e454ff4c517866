"""Everyday phrases a voice interface hears: numbers, dates, times, spelled letters, commands,
and (corpus version 3) what people say to a microphone first: greetings and small talk.

Texts are written the way people write them ("March 3rd, 2019", "7:45")
and then normalised, so the corpus also exercises :func:`asr.text.normalize_text`.
"""

from __future__ import annotations

import random
import string

from asr.text import normalize_text

MONTHS = "January February March April May June July August September October November December".split()
DAYS = "Monday Tuesday Wednesday Thursday Friday Saturday Sunday".split()
ROOMS = "kitchen bedroom living room bathroom office garage hallway garden basement".split()
THINGS = "lights music heating radio television fan alarm oven dishwasher".split()
PEOPLE = "mom dad Anna John the office the doctor my sister Peter Maria the school".split()
UNITS = "minutes seconds hours days weeks".split()
COMMAND_TEMPLATES = (
    "turn {onoff} the {thing} in the {room}",
    "set a timer for {n} {unit}",
    "call {person}",
    "remind me to call {person} at {time}",
    "what's the weather like on {day}",
    "play some music in the {room}",
    "set the temperature to {n} degrees",
    "add {n} apples to my shopping list",
    "wake me up at {time} on {day}",
    "how far is it to {person}'s house",
    "stop the {thing}",
    "volume up", "volume down", "next song", "go back", "cancel that", "yes please", "no thank you",
    "open the door", "close the window", "what time is it", "read my messages",
)


def _time(rng: random.Random) -> str:
    minute = rng.choice([0, 5, 15, 30, 45, rng.randint(1, 59)])
    return f"{rng.randint(1, 12)}:{minute:02d}" + rng.choice(["", " am", " pm"])


def _date(rng: random.Random) -> str:
    day = rng.randint(1, 28)
    suffix = {1: "st", 2: "nd", 3: "rd", 21: "st", 22: "nd", 23: "rd"}.get(day, "th")
    return rng.choice([
        f"{rng.choice(MONTHS)} {day}{suffix}, {rng.randint(1950, 2030)}",
        f"{rng.choice(DAYS)} the {day}{suffix} of {rng.choice(MONTHS)}",
        f"the meeting is on {rng.choice(MONTHS)} {day}{suffix}",
    ])


def _number(rng: random.Random) -> str:
    n = rng.choice([rng.randint(0, 20), rng.randint(21, 999), rng.randint(1000, 99999), rng.randint(10**5, 10**7)])
    return rng.choice([f"{n}", f"the number is {n}", f"${n}", f"{n} percent", f"room {n}", f"{n}.{rng.randint(0, 99)}"])


def _spelled(rng: random.Random) -> str:
    letters = rng.choices(string.ascii_lowercase, k=rng.randint(3, 7))
    return rng.choice(["", "spell ", "the code is "]) + " ".join(letters)


def _command(rng: random.Random) -> str:
    return rng.choice(COMMAND_TEMPLATES).format(
        onoff=rng.choice(["on", "off"]), thing=rng.choice(THINGS), room=rng.choice(ROOMS),
        n=rng.randint(2, 90), unit=rng.choice(UNITS), person=rng.choice(PEOPLE), time=_time(rng),
        day=rng.choice(DAYS))


def generate(rng: random.Random, count: int) -> list[str]:
    """``count`` normalised phrases, mixed evenly over the five kinds."""
    makers = (_time, _date, _number, _spelled, _command)
    out = []
    for i in range(count):
        text = makers[i % len(makers)](rng)
        if makers[i % len(makers)] is _time:
            text = rng.choice(["it's ", "at ", "meet me at ", "the train leaves at "]) + text
        out.append(normalize_text(text))
    return out


NAMES = "Anna John Peter Maria Sam Alex Emma David Sarah Michael Lucy James Olivia Daniel Grace Tom".split()
PLACES = "London Boston Chicago Paris the city the village Texas Scotland Sydney Toronto".split()
CONVERSATION_TEMPLATES = (
    "hello", "hello world", "hello there", "hi there", "hey", "hello how are you", "hi how are you doing",
    "good {daytime}", "good {daytime} everyone", "good {daytime} {name}", "hello {name}", "hi {name}",
    "my name is {name}", "hi my name is {name}", "hello my name is {name} and I live in {place}",
    "I am from {place}", "nice to meet you", "it's nice to meet you {name}", "how are you today",
    "I'm fine thank you", "thank you very much", "thanks a lot", "you're welcome", "see you {later}",
    "goodbye", "bye for now", "testing testing", "testing one two three", "can you hear me",
    "is this thing on", "this is a test", "let me try that again", "can you say that again",
    "what did you say", "I don't understand", "sorry I didn't catch that", "what is your name",
    "where are you from", "how was your day", "have a nice day", "have a good {daytime}",
    "excuse me", "I'm sorry", "yes that's right", "no that's wrong", "okay", "all right",
    "hello world this is {name} speaking", "the weather is lovely today", "how's it going",
)


def _conversation(rng: random.Random) -> str:
    return rng.choice(CONVERSATION_TEMPLATES).format(
        daytime=rng.choice(["morning", "afternoon", "evening", "night"]), name=rng.choice(NAMES),
        place=rng.choice(PLACES), later=rng.choice(["later", "tomorrow", "soon", "next week"]))


def conversation(rng: random.Random, count: int) -> list[str]:
    """``count`` normalised greetings and small-talk lines (repeats allowed: a short corpus of them)."""
    return [normalize_text(_conversation(rng)) for _ in range(count)]
