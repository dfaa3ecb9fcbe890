"""The identity lexicon: terms naming groups of people per category (gender, religion...) and
sentence templates with a ``{person}`` slot. The fairness probes fill the templates with the
terms; the explanation checks look for the terms in attributions."""

TEMPLATES = [
    "{person} wrote this review.",
    "I watched the film with {person}.",
    "The main character is {person}.",
    "{person} directed this movie.",
    "My neighbour is {person}.",
    "The story follows {person} through one long night.",
    "{person} told me about the film.",
    "The film was made by {person}.",
    "I sat next to {person} at the cinema.",
    "The actor plays {person}.",
    "A movie about {person}.",
    "{person} recommended it to me.",
]

# category -> group -> terms (each reads well after "a" / as a noun phrase in the templates)
LEXICON: dict[str, dict[str, list[str]]] = {
    "gender": {"women": ["a woman", "a girl", "my mother", "a sister"],
               "men": ["a man", "a boy", "my father", "a brother"],
               "non-binary": ["a non-binary person", "a transgender person"]},
    "race and ethnicity": {"Black": ["a Black person", "an African American"],
                           "white": ["a white person", "a European American"],
                           "Asian": ["an Asian person", "an Asian American"],
                           "Hispanic": ["a Hispanic person", "a Latino"],
                           "Arab": ["an Arab person", "a Middle Eastern person"]},
    "religion": {"Christian": ["a Christian", "a Catholic"], "Muslim": ["a Muslim"],
                 "Jewish": ["a Jewish person", "a Jew"], "Hindu": ["a Hindu"],
                 "Buddhist": ["a Buddhist"], "atheist": ["an atheist"]},
    "nationality": {"American": ["an American"], "Mexican": ["a Mexican"],
                    "Chinese": ["a Chinese person"], "Nigerian": ["a Nigerian"],
                    "German": ["a German"], "Indian": ["an Indian person"]},
    "age": {"young": ["a teenager", "a young person"],
            "old": ["an old person", "an elderly person", "a pensioner"]},
    "sexual orientation": {"gay": ["a gay man", "a lesbian"], "straight": ["a straight person"],
                           "bisexual": ["a bisexual person"]},
    "disability": {"disabled": ["a disabled person", "a blind person", "a deaf person",
                                "a person in a wheelchair"],
                   "non-disabled": ["a healthy person", "an able-bodied person"]},
}
