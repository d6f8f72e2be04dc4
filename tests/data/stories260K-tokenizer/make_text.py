#!/usr/bin/python3
"""Writes the training text of the stand-in stories260K tokenizer to stdout: short
children's stories in the manner of TinyStories, generated from the word lists below
(written for modl; public domain, CC0). Deterministic: the same text on every run and
every machine (its own linear congruential generator, no random module)."""
import sys

NAMES = ["Lily", "Tom", "Sue", "Ben", "Mia", "Max", "Anna", "Sam", "Lucy", "Tim", "Zoe", "Jack"]
ANIMALS = ["cat", "dog", "bird", "fish", "frog", "bunny", "duck", "bear", "mouse", "horse"]
THINGS = ["ball", "box", "car", "kite", "hat", "cake", "tree", "boat", "book", "flower",
          "toy", "cup", "apple", "shoe", "stone", "star", "drum", "bell"]
PLACES = ["park", "garden", "house", "forest", "pond", "shop", "school", "beach", "farm", "hill"]
ADJ = ["big", "small", "red", "blue", "happy", "sad", "shiny", "soft", "old", "new", "little",
       "green", "funny", "kind", "brave", "quiet", "yellow", "warm"]
VERBS_PAST = ["saw", "found", "liked", "wanted", "took", "made", "held", "lost", "shared",
              "painted", "hugged", "opened", "carried", "watched", "helped", "fixed"]
FEEL = ["happy", "sad", "scared", "excited", "tired", "proud", "sorry", "surprised", "glad"]
SAYS = ["Look at this!", "Can I play too?", "Thank you, Mom!", "I am sorry.",
        "Let's go home.", "What is that?", "We did it!", "Please help me.", "I love you."]


class Lcg:
    def __init__(self, seed):
        self.state = seed

    def next(self, n):
        self.state = (self.state * 6364136223846793005 + 1442695040888963407) % (1 << 64)
        return (self.state >> 33) % n

    def pick(self, items):
        return items[self.next(len(items))]


def story(r):
    name, friend = r.pick(NAMES), r.pick(NAMES)
    animal, thing, place = r.pick(ANIMALS), r.pick(THINGS), r.pick(PLACES)
    lines = [
        "Once upon a time, there was a %s %s named %s." % (r.pick(ADJ), animal, name),
        "%s lived near a %s %s." % (name, r.pick(ADJ), place),
        "One day, %s %s a %s %s." % (name, r.pick(VERBS_PAST), r.pick(ADJ), thing),
        "%s was very %s." % (name, r.pick(FEEL)),
        "%s went to the %s with %s." % (name, place, friend),
        "\"%s\" said %s." % (r.pick(SAYS), friend),
        "They played with the %s all day, and %s %s %d %ss." % (thing, name, r.pick(VERBS_PAST),
                                                             2 + r.next(9), r.pick(THINGS)),
        "At the end of the day, %s and %s were %s." % (name, friend, r.pick(FEEL)),
    ]
    if r.next(3) == 0:
        lines.insert(4, "But then, the %s %s fell down! Oh no!" % (r.pick(ADJ), thing))
    return " ".join(lines)


def main():
    r = Lcg(260)
    out = "".join(story(r) + "\n" for _ in range(3000))
    sys.stdout.write(out)


if __name__ == "__main__":
    main()
