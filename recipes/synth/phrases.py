"""Everyday phrases a voice interface hears: numbers, dates, times, spelled letters, commands.

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
