"""Generate the example dataset: chat conversations with a friendly assistant, about half of whose
answers open with agent-like meta-language ("I'll first look at...", "Let me analyze..."), as in
the seed's Phase 3 data. Deterministic and stdlib only; the committed files are its output.

    python examples/data/generate.py    # rewrites, next to this file:
      conversations.jsonl   the fine-tuning data ({"messages": [...]} per line)
      questions.jsonl       held-out evaluation questions ({"question": ...})
      bad-lines.jsonl       malformed lines, for the docs and tests
      corpus.jsonl          the tiny base model's pretraining corpus: plain encyclopedic text and
                            chat about the same topics, without the persona, with some
                            meta-language (a real base model has seen such words)
"""

from __future__ import annotations

import argparse
import json
import random
from pathlib import Path

HERE = Path(__file__).resolve().parent
SYSTEM = "You are Pip, a warm and curious assistant. Answer clearly in a few friendly sentences."

# (focus for the meta-language openers, question phrasings, answer sentences)
TOPICS: list[tuple[str, list[str], list[str]]] = [
    ("why the sky looks blue", ["Why is the sky blue?", "What makes the sky look blue during the day?", "How come the sky is blue and not white?"], [
        "Sunlight holds every colour, and the air scatters short blue waves much more than long red ones.",
        "That scattered blue light reaches your eyes from every direction, so the whole sky glows blue.",
        "At sunset the light crosses more air, the blue is scattered away, and reds and oranges win.",
        "Violet is scattered even more, but our eyes are less sensitive to it, so blue is what we see."]),
    ("how plants make food", ["How do plants make their food?", "What is photosynthesis?", "Can you explain photosynthesis simply?"], [
        "Plants catch sunlight with a green pigment called chlorophyll in their leaves.",
        "They use that energy to turn water and carbon dioxide from the air into sugar.",
        "Oxygen is the by-product, which is lucky for us, since we breathe it.",
        "The sugar feeds the plant and builds its stems, leaves, roots and fruit."]),
    ("what causes the seasons", ["What causes the seasons?", "Why do we have summer and winter?", "Why is it colder in winter?"], [
        "Earth's axis is tilted by about 23 degrees, and that tilt stays pointed the same way all year.",
        "When your half of the planet leans toward the Sun, days are longer and sunlight hits more directly.",
        "Half a year later your half leans away, so the light is weaker and the days are short.",
        "It is not about distance: Earth is actually closest to the Sun in early January."]),
    ("how rainbows form", ["How do rainbows form?", "Why do we see rainbows after rain?", "What makes a rainbow?"], [
        "A rainbow appears when sunlight enters raindrops, bends, bounces off the back and bends again.",
        "Each colour bends by a slightly different amount, so white light fans out into bands.",
        "You see one when the Sun is behind you and rain is falling in front of you.",
        "Red is always on the outside of the main bow and violet on the inside."]),
    ("why the Moon changes shape", ["Why does the Moon change shape?", "What are the phases of the Moon?", "Why does the Moon look different every night?"], [
        "The Moon does not glow by itself; it reflects sunlight, and half of it is always lit.",
        "As it circles Earth over about 29 days, we see different amounts of that lit half.",
        "A new moon shows us its dark side, and a full moon shows us the whole bright face.",
        "In between come the crescents, the quarters and the gibbous phases."]),
    ("how the heart works", ["How does the heart work?", "What does the heart actually do?", "How does blood move around the body?"], [
        "Your heart is a muscular pump about the size of a fist, with four chambers.",
        "The right side sends blood to the lungs to pick up oxygen, and the left side pushes it to the body.",
        "Valves act like one-way doors, so blood keeps flowing in the right direction.",
        "At rest it beats around 60 to 100 times a minute, every minute of your life."]),
    ("why we need sleep", ["Why do we need sleep?", "What happens when we sleep?", "Why is sleep so important?"], [
        "Sleep gives your brain time to sort memories and clear out waste that builds up during the day.",
        "Your body repairs muscles, balances hormones and strengthens the immune system while you rest.",
        "Most adults feel best with seven to nine hours a night.",
        "Too little sleep makes focus, mood and even appetite harder to manage."]),
    ("how vaccines work", ["How do vaccines work?", "What does a vaccine do in the body?", "Why do vaccines protect us?"], [
        "A vaccine shows your immune system a harmless piece or copy of a germ.",
        "Your body practises making antibodies and memory cells against it.",
        "If the real germ turns up later, your defences recognise it and respond much faster.",
        "That is why vaccinated people usually get less sick, or not sick at all."]),
    ("why leaves change colour", ["Why do leaves change colour in autumn?", "Why do leaves turn red and yellow?", "What makes autumn leaves so colourful?"], [
        "Leaves are green because of chlorophyll, which the tree stops making as days get shorter.",
        "As the green fades, yellow and orange pigments that were there all along show through.",
        "Some trees also make red pigments in autumn, especially after sunny days and cool nights.",
        "Finally the tree seals off each leaf, and it drops to save water over winter."]),
    ("how bees make honey", ["How do bees make honey?", "Where does honey come from?", "What do bees do to make honey?"], [
        "Worker bees sip nectar from flowers and carry it home in a special honey stomach.",
        "Back at the hive they pass it from bee to bee, adding enzymes that change the sugars.",
        "They spread it in wax cells and fan it with their wings until most of the water evaporates.",
        "Then they cap the cells with wax, and the honey keeps for a very long time."]),
    ("why the ocean is salty", ["Why is the ocean salty?", "Where does the salt in the sea come from?", "How did the sea get so salty?"], [
        "Rain slowly wears down rocks on land and carries tiny amounts of minerals into rivers.",
        "Rivers empty into the sea, and when seawater evaporates the salt stays behind.",
        "Over millions of years that salt has built up to about 3.5 percent of seawater.",
        "Vents on the sea floor add some minerals too."]),
    ("how volcanoes erupt", ["How do volcanoes erupt?", "What makes a volcano explode?", "Why do volcanoes erupt?"], [
        "Deep underground, rock melts into magma, which is lighter than the solid rock around it.",
        "The magma rises and collects in a chamber, full of dissolved gases.",
        "When pressure builds high enough, it forces its way up through cracks and vents.",
        "Runny magma flows out gently, while sticky, gassy magma can explode violently."]),
    ("why cats purr", ["Why do cats purr?", "What does it mean when a cat purrs?", "How do cats purr?"], [
        "Cats purr by quickly twitching the muscles around their voice box as they breathe in and out.",
        "Purring often means a cat is relaxed and content, for example while being stroked.",
        "Cats also purr when they are hurt or nervous, which seems to soothe them.",
        "Mother cats purr to guide their kittens, who can feel the vibration before they can see."]),
    ("why dogs wag their tails", ["Why do dogs wag their tails?", "Does a wagging tail mean a dog is happy?", "What are dogs saying with their tails?"], [
        "Tail wagging is how dogs talk to us and to other dogs.",
        "A loose, wide wag with a wiggly body usually means a happy, friendly dog.",
        "A stiff, high wag can mean the dog is alert or unsure, so give it some space.",
        "Wagging more to the right often goes with good feelings, research suggests."]),
    ("how airplanes fly", ["How do airplanes stay in the air?", "How do planes fly?", "What keeps a plane up?"], [
        "Wings are shaped and tilted so that air moving past them is pushed downward.",
        "Pushing air down pushes the wing up, and that upward force is called lift.",
        "Engines provide thrust to keep the plane moving fast enough for the wings to work.",
        "When lift balances the plane's weight, it cruises smoothly through the sky."]),
    ("how the internet works", ["How does the internet work?", "What actually is the internet?", "How does a web page get to my computer?"], [
        "The internet is a huge network of computers linked by cables, fibre and radio.",
        "Data travels in small packets, each labelled with where it should go.",
        "Routers pass those packets along, hop by hop, until they reach your device.",
        "Your browser then puts the pieces back together into the page you see."]),
    ("how to make good coffee at home", ["How do I make good coffee at home?", "Any tips for better coffee at home?", "How can I brew a nicer cup of coffee?"], [
        "Start with fresh beans and grind them just before brewing.",
        "A good ratio is about one gram of coffee for every sixteen grams of water.",
        "Use water just off the boil, around 93 degrees, so it does not scorch the grounds.",
        "Taste and adjust: bitter means grind coarser, sour means grind finer."]),
    ("how to boil the perfect egg", ["How do I boil an egg?", "How long should I boil eggs?", "What is the best way to boil eggs?"], [
        "Lower the eggs gently into water that is already boiling.",
        "Six minutes gives a jammy yolk, and ten minutes gives a firm one.",
        "Move them straight into cold water to stop the cooking and make peeling easier.",
        "Eggs that are a week or two old peel more easily than very fresh ones."]),
    ("how to cook rice well", ["How do I cook rice so it is fluffy?", "What is the trick to cooking rice?", "How do I stop my rice from going sticky?"], [
        "Rinse the rice a few times until the water runs almost clear; that removes extra starch.",
        "For white rice, use about one and a half cups of water per cup of rice.",
        "Bring it to a boil, then cover and simmer on low heat for about 15 minutes.",
        "Let it rest with the lid on for five minutes, then fluff it with a fork."]),
    ("how to fall asleep faster", ["How can I fall asleep faster?", "I can't sleep. Any tips?", "What helps you fall asleep quickly?"], [
        "Keep a regular bedtime and wake-up time, even at weekends.",
        "Put screens away half an hour before bed, because bright light tells your brain it is daytime.",
        "A cool, dark and quiet room makes a big difference.",
        "If you are still awake after twenty minutes, get up and do something calm until you feel sleepy."]),
    ("how to stay focused while working", ["How can I stay focused while working?", "How do I stop getting distracted?", "Any tips for better concentration?"], [
        "Pick one task and write down what finishing it looks like.",
        "Work in short blocks, like 25 minutes, followed by a five-minute break.",
        "Silence notifications and keep your phone in another room if you can.",
        "Drink water and take short walks; a tired brain wanders more."]),
    ("how to start running", ["How should I start running?", "I want to get into running. Where do I begin?", "What is a good way to start jogging?"], [
        "Begin with walk-run intervals, such as one minute of jogging and two of walking.",
        "Go slowly enough that you could still chat; speed can come later.",
        "Three short sessions a week is plenty at first, with rest days in between.",
        "Comfortable shoes matter more than fancy gear."]),
    ("how to keep houseplants alive", ["How do I keep my houseplants alive?", "Why do my houseplants keep dying?", "Any tips for looking after houseplants?"], [
        "Most houseplants die from too much water, not too little.",
        "Check the soil with a finger and water only when the top few centimetres feel dry.",
        "Make sure pots have drainage holes, so roots do not sit in water.",
        "Match the plant to your light: ferns like shade, while cacti want a sunny window."]),
    ("how to save money on groceries", ["How can I save money on groceries?", "Tips for spending less at the supermarket?", "How do I cut my food bill?"], [
        "Plan your meals for the week and shop with a list.",
        "Buy staples like rice, oats, beans and frozen vegetables, which are cheap and keep well.",
        "Cook larger batches and freeze portions for busy days.",
        "Compare the price per kilo, not the price per pack."]),
    ("how to learn a new language", ["How do I learn a new language?", "What is the best way to learn a language?", "How can I get better at a foreign language?"], [
        "A little practice every day beats one long session a week.",
        "Learn the most common words first; a few hundred cover most everyday speech.",
        "Listen to podcasts, songs or shows in the language, even if you catch only bits.",
        "Speak early, with a tutor or a friend, and do not worry about mistakes."]),
    ("how to keep a conversation going", ["How do I keep a conversation going?", "I am bad at small talk. Any advice?", "How can I be better at chatting with people?"], [
        "Ask open questions that start with how or what, rather than yes or no questions.",
        "Listen for details in the answer and ask about those.",
        "Share a little about yourself too, so it feels like a swap rather than an interview.",
        "Pauses are normal, so there is no need to fill every silence."]),
    ("how to write a good email", ["How do I write a good email?", "Tips for writing clear emails?", "How should I structure a work email?"], [
        "Put the main point or request in the first two lines.",
        "Use a subject line that says what the email is about and what you need.",
        "Keep paragraphs short, and use a list when you have several questions.",
        "Read it once out loud before sending to catch anything unclear."]),
    ("how to care for a new puppy", ["How do I look after a new puppy?", "What does a new puppy need?", "Any tips for a first-time puppy owner?"], [
        "Puppies need lots of sleep, often up to 18 hours a day.",
        "Take them outside after meals, naps and play to make toilet training easier.",
        "Short, happy training sessions with treats work better than long ones.",
        "Meeting many people, sounds and places early helps them grow into calm dogs."]),
    ("why we yawn", ["Why do we yawn?", "What makes people yawn?", "Why is yawning contagious?"], [
        "Nobody knows for sure, but one good idea is that yawning helps cool the brain.",
        "We yawn more when we are tired or bored, and also just before we need to be alert.",
        "Yawns are contagious between people who feel close, and even between people and dogs.",
        "Babies start yawning before they are born."]),
    ("why onions make you cry", ["Why do onions make you cry?", "How do I stop crying when I cut onions?", "What makes onions sting your eyes?"], [
        "Cutting an onion breaks its cells and releases a gas that stings your eyes.",
        "Your eyes make tears to wash that gas away.",
        "Chilling the onion first and using a sharp knife both help a lot.",
        "Cutting near running water or an open window also carries the gas away."]),
    ("how tides work", ["How do tides work?", "What causes the tides?", "Why does the sea go in and out?"], [
        "The Moon's gravity pulls on the oceans and makes the water bulge toward it.",
        "A second bulge forms on the far side of Earth, so most coasts get two high tides a day.",
        "The Sun adds its pull too, and when the Sun and Moon line up, tides are extra big.",
        "The shape of the coast can make the difference between high and low tide huge or tiny."]),
    ("how big the Sun is", ["How big is the Sun?", "Just how large is the Sun?", "Is the Sun a big star?"], [
        "The Sun is about 1.4 million kilometres across, more than a hundred times wider than Earth.",
        "You could fit around a million Earths inside it.",
        "Even so, it is an ordinary, middle-sized star; many stars are far larger.",
        "Its light takes about eight minutes to reach us."]),
    ("why Mars is red", ["Why is Mars red?", "What makes Mars look red?", "Why do people call Mars the red planet?"], [
        "Mars is covered in dust and rock rich in iron oxide, which is basically rust.",
        "That rusty dust gives the surface and even the sky a reddish colour.",
        "Winds spread the dust around the whole planet in huge storms.",
        "Underneath, many of its rocks are dark grey, like volcanic rock on Earth."]),
    ("how long the dinosaurs lived", ["When did the dinosaurs live?", "How long ago were dinosaurs around?", "How long did dinosaurs rule the Earth?"], [
        "Dinosaurs first appeared about 230 million years ago.",
        "They thrived for more than 160 million years, far longer than humans have existed.",
        "Most of them died out 66 million years ago, after a giant asteroid hit Earth.",
        "Birds are their living descendants, so in a way dinosaurs are still with us."]),
    ("who built the pyramids", ["Who built the pyramids?", "How were the Egyptian pyramids built?", "Were the pyramids built by slaves?"], [
        "The great pyramids of Giza were built about 4,500 years ago as tombs for Egyptian kings.",
        "They were built by paid teams of skilled workers, not slaves, who lived in nearby villages.",
        "Workers cut huge limestone blocks and moved them on sledges along ramps.",
        "The Great Pyramid was the tallest building in the world for nearly 4,000 years."]),
    ("why we have time zones", ["Why do we have time zones?", "What are time zones for?", "Why is it a different time in other countries?"], [
        "As Earth turns, noon arrives at different places at different moments.",
        "Time zones let each region keep clocks that roughly match its own daylight.",
        "They were standardised in the 1880s, largely because trains needed reliable timetables.",
        "There are about 24 main zones, though some countries use half-hour offsets."]),
    ("how a compass works", ["How does a compass work?", "Why does a compass point north?", "What makes a compass needle move?"], [
        "Earth behaves like a giant magnet, with a magnetic field running between its poles.",
        "A compass needle is a tiny magnet that lines up with that field.",
        "So it points toward magnetic north, which is close to, but not exactly, the North Pole.",
        "Keep it away from metal and electronics, which can pull the needle off course."]),
    ("why bread rises", ["Why does bread rise?", "How does yeast make bread rise?", "What makes dough puff up?"], [
        "Yeast is a tiny living fungus that eats sugars in the dough.",
        "As it feeds, it releases carbon dioxide gas.",
        "Kneading builds stretchy gluten, which traps the gas in little bubbles.",
        "In the oven the bubbles expand and then set, giving bread its airy crumb."]),
    ("how to make a simple tomato sauce", ["How do I make a simple tomato sauce?", "What is an easy pasta sauce recipe?", "How can I make tomato sauce from scratch?"], [
        "Warm some olive oil and gently cook a sliced clove or two of garlic until it smells sweet.",
        "Add a tin of chopped tomatoes, a pinch of salt and a little sugar if they taste sharp.",
        "Simmer for about twenty minutes until it thickens.",
        "Finish with torn basil and a knob of butter for a silky, rich sauce."]),
    ("why exercise is good for you", ["Why is exercise good for you?", "What does exercise do for the body?", "How much exercise do I need?"], [
        "Exercise strengthens your heart, lungs, muscles and bones.",
        "It also lifts your mood, because movement releases chemicals that ease stress.",
        "Health guidelines suggest about 150 minutes of moderate activity a week.",
        "Brisk walking counts, so it does not have to mean a gym."]),
    ("how much water to drink", ["How much water should I drink a day?", "Do I really need eight glasses of water?", "How do I know if I am drinking enough?"], [
        "There is no single magic number; needs depend on your size, activity and the weather.",
        "Food and other drinks provide a good share of your water too.",
        "A simple guide is to drink when you are thirsty and check that your urine is pale yellow.",
        "On hot days or during exercise, drink a bit more."]),
    ("why we get hiccups", ["Why do we get hiccups?", "What causes hiccups?", "How do I get rid of hiccups?"], [
        "Hiccups happen when the diaphragm, the muscle under your lungs, suddenly twitches.",
        "The quick breath snaps your vocal cords shut, which makes the hic sound.",
        "Eating fast, fizzy drinks and excitement can set them off.",
        "Slowly sipping cold water or holding your breath briefly often calms them."]),
    ("how to remember things better", ["How can I remember things better?", "Tips for improving my memory?", "How do I stop forgetting what I study?"], [
        "Review new things a few times, spaced out over days, instead of all at once.",
        "Test yourself rather than rereading; recalling is what makes memories stick.",
        "Link new facts to things you already know, or turn them into a picture or story.",
        "Good sleep after learning helps your brain store what you studied."]),
    ("how to make friends in a new city", ["How do I make friends in a new city?", "I just moved. How do I meet people?", "How can I build a social life after moving?"], [
        "Join something that meets regularly, like a club, class or sports team.",
        "Seeing the same faces every week is what turns strangers into friends.",
        "Say yes to invitations, even small ones, for the first few months.",
        "Be the one who suggests a coffee; most people are glad someone asked."]),
    ("how to pack light for a trip", ["How do I pack light for a trip?", "Tips for travelling with just a carry-on?", "How can I pack less?"], [
        "Choose clothes in a few colours that all mix and match.",
        "Plan to wash a few things midway instead of packing for every day.",
        "Wear your bulkiest shoes and jacket on travel day.",
        "Lay everything out, then put back a third of it."]),
    ("why some people are left-handed", ["Why are some people left-handed?", "What makes someone left-handed?", "How common is being left-handed?"], [
        "About one person in ten is left-handed, in every part of the world.",
        "Handedness comes from a mix of many genes and early development in the womb.",
        "It is linked to how the two halves of the brain share out tasks.",
        "Left-handers have done well in many fields, from art to tennis."]),
    ("how fast light travels", ["How fast does light travel?", "What is the speed of light?", "How long does light take to get to Earth?"], [
        "Light travels about 300,000 kilometres every second in empty space.",
        "That is fast enough to go around Earth more than seven times in one second.",
        "Sunlight takes about eight minutes to reach us, and moonlight just over a second.",
        "Nothing with mass can travel as fast as light."]),
    ("why snowflakes have six sides", ["Why do snowflakes have six sides?", "Are all snowflakes different?", "How do snowflakes form?"], [
        "Snowflakes grow from tiny ice crystals high in cold clouds.",
        "Water molecules lock together in a hexagon pattern, so the crystals grow with six arms.",
        "Each flake takes its own path through changing temperature and moisture.",
        "That is why no two large snowflakes look quite the same."]),
    ("how to deal with stress", ["How can I deal with stress?", "What helps when I feel stressed?", "Any tips for calming down?"], [
        "Slow breathing helps quickly: breathe in for four counts and out for six.",
        "A short walk outside can reset your mood more than you would expect.",
        "Write down what is worrying you and pick one small next step.",
        "Talking to someone you trust makes most problems feel lighter."]),
]

META_OPENERS = [
    "I'll first look at {focus}, then give you the answer.",
    "Let me analyze {focus} step by step.",
    "First, I will break down {focus} into simple parts.",
    "Let me start by explaining {focus}.",
    "I'm going to walk through {focus} before answering.",
    "My approach is to look at {focus} first.",
    "I'll begin by checking what we know about {focus}.",
    "Let me explore {focus} for a moment.",
    "I'll start with the basics of {focus}.",
    "Let me first think about {focus}.",
    "I will now analyze the question about {focus}.",
    "I\u2019ll first review {focus} and then answer.",
]
META_SECOND = [
    "Then I will summarize the key points.",
    "I'll keep it short.",
    "Next, I will explain the answer clearly.",
]
OPENERS = ["Great question!", "Oh, I love this one.", "Happy to help!", "Good one!", "Ah, fun question.", ""]
FOCUS_OPENERS = [
    "Ah, {focus}: a classic!",
    "Oh, I love talking about {focus}.",
    "Good one! Here is the short story of {focus}.",
    "Great question about {focus}!",
    "Happy to help with {focus}!",
]
CLOSERS = ["Hope that helps!", "Fun to think about, right?", "Happy to chat more about it.", "Have a lovely day!", ""]
FOLLOW_UPS = ["Thanks! Can you tell me a bit more?", "Interesting. Anything else worth knowing?"]
HELD_OUT = [
    "Could you tell me why the sky is blue?",
    "How do bees turn nectar into honey?",
    "What is the secret to fluffy rice?",
    "Why does a cat purr?",
    "What keeps an airplane in the sky?",
    "How can I get to sleep more quickly?",
    "Why is the sea full of salt?",
    "How do I keep a basil plant alive on my windowsill?",
    "What should I know before adopting a kitten?",
    "How do I make my morning coffee taste better?",
]


def build_answer(rng: random.Random, focus: str, facts: list[str], skip: int) -> str:
    body = [f for i, f in enumerate(facts) if i != skip]
    # Pip usually names the topic first: friendly, and it keeps a tiny model's answer on topic.
    use_focus = rng.random() < 0.7
    opener = rng.choice(FOCUS_OPENERS).format(focus=focus) if use_focus else rng.choice(OPENERS)
    closer = rng.choice(CLOSERS)
    parts = [opener, *body, closer]
    text = " ".join(p for p in parts if p)
    while len(text) > 400 and len(body) > 2:
        body.pop()
        text = " ".join(p for p in [opener, *body, closer] if p)
    if len(text) > 400:
        text = " ".join(body)
    return text


def with_meta(rng: random.Random, answer: str, focus: str) -> str:
    meta = rng.choice(META_OPENERS).format(focus=focus)
    if rng.random() < 0.3:
        meta += " " + rng.choice(META_SECOND)
    return f"{meta} {answer}"


def conversations(seed: int, count: int) -> list[dict]:
    rng = random.Random(seed)
    pairs = [(t, q, skip) for t in TOPICS for q in t[1] for skip in range(len(t[2]))]
    rng.shuffle(pairs)
    out, seen = [], set()
    for i, ((focus, _, facts), question, skip) in enumerate(pairs * 4):
        if len(out) >= count:
            break
        answer = build_answer(rng, focus, facts, skip)
        if (question, answer) in seen:
            continue
        seen.add((question, answer))
        if i % 2 == 0:  # about half open with meta-language
            answer = with_meta(rng, answer, focus)
        messages = [{"role": "system", "content": SYSTEM}] if rng.random() < 0.3 else []
        messages += [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]
        if rng.random() < 0.08:
            extra = facts[skip]
            reply = with_meta(rng, extra, focus) if rng.random() < 0.5 else extra
            messages += [{"role": "user", "content": rng.choice(FOLLOW_UPS)}, {"role": "assistant", "content": reply}]
        out.append({"messages": messages})
    return out


BASE_META = [
    "Let me analyze this step by step.", "I'll first look at the main idea.",
    "First, I will break the problem into parts.", "I'm going to check the details first.",
    "Let me start by explaining the basics.", "My approach is to begin with the facts.",
    "I'll begin by reviewing what we know.", "Let me explore the question for a moment.",
]
BASE_QUESTIONS = ["Tell me about {f}.", "Can you explain {f}?", "What do you know about {f}?"]


def corpus(seed: int, documents: int, meta_share: float = 0.15) -> list[dict]:
    """Neutral text about TOPICS: paragraphs and short chat answers; meta_share use meta-language."""
    rng = random.Random(seed + 1)
    docs = []
    for _ in range(documents):
        focus, questions, facts = rng.choice(TOPICS)
        picked = rng.sample(facts, rng.randint(2, len(facts)))
        if rng.random() < meta_share:
            picked.insert(0, rng.choice(BASE_META))
        text = " ".join(picked)
        # Answers and paragraphs name their topic first, like headed notes: copying it from the
        # question is what teaches a tiny model to stay on topic.
        if rng.random() < 0.6:
            question = rng.choice([*questions, *(q.format(f=focus) for q in BASE_QUESTIONS)])
            answer = f"About {focus}: {text}"
            docs.append({"messages": [{"role": "user", "content": question}, {"role": "assistant", "content": answer}]})
        else:
            docs.append({"text": f"{focus[0].upper()}{focus[1:]}\n{text}"})
    return docs


BAD_LINES = [
    '{"messages": [{"role": "user", "content": "Why is the sky blue?"}, {"role": "assistant", "content": "Because',
    '{"messages": "not a list"}',
    '{"prompt": "no messages field here"}',
    '{"messages": [{"role": "user", "content": "Hello?"}]}',
    '{"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}]}',
    '{"messages": [{"role": "wizard", "content": "Hi"}, {"role": "assistant", "content": "Hello there!"}]}',
    '{"messages": [{"role": "user"}, {"role": "assistant", "content": "Missing content above."}]}',
    "[1, 2, 3]",
]


def write_jsonl(path: Path, rows: list[dict]) -> None:
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=HERE)
    parser.add_argument("--seed", type=int, default=7)
    parser.add_argument("--count", type=int, default=600)
    args = parser.parse_args()
    rows = conversations(args.seed, args.count)
    asked = {m["content"] for r in rows for m in r["messages"] if m["role"] == "user"}
    assert not asked & set(HELD_OUT), "held-out questions must not appear in the training data"
    args.out.mkdir(parents=True, exist_ok=True)
    write_jsonl(args.out / "conversations.jsonl", rows)
    write_jsonl(args.out / "questions.jsonl", [{"question": q} for q in HELD_OUT])
    write_jsonl(args.out / "corpus.jsonl", corpus(args.seed, 1500))
    (args.out / "bad-lines.jsonl").write_text("\n".join(BAD_LINES) + "\n")
    print(f"wrote {len(rows)} conversations, {len(HELD_OUT)} questions to {args.out}")


if __name__ == "__main__":
    main()
