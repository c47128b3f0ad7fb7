"""Writes tools/data/meta_train.jsonl: the labelled sentences the meta-language classifier is
trained on ({"text", "meta", "category"} per line).

Templates with slot fillers plus hand-written sentences, for meta-language (an assistant
narrating its own plan or process) and for the hard negatives that look like it (persona
futures, textbook voice, idioms, quoted speech, instructions to the reader, facts about
people analysing things). Surface variants (curly quotes, British spellings, lead-ins, missing
apostrophes, lower-case openings) are applied at random with a fixed seed, so the file is the
same on every run.

The held-out test set (tests/data/meta_heldout_*.jsonl) was written separately, on other
topics and phrasings; nothing here is taken from it.

    python tools/meta_train_set.py            # rewrites tools/data/meta_train.jsonl
"""

from __future__ import annotations

import json
import random
from pathlib import Path

OUT = Path(__file__).parent / "data" / "meta_train.jsonl"
SEED = 20240612

TOPICS = [
    "the water cycle", "compound interest", "sourdough bread", "black holes",
    "the French Revolution", "vitamin D", "Python decorators", "tomato blight", "jet lag",
    "credit scores", "the immune system", "solar panels", "marathon training",
    "houseplant watering", "the Roman Empire", "electric cars", "sleep hygiene", "SQL joins",
    "cat nutrition", "learning Spanish", "climate change", "photosynthesis", "index funds",
    "migraines", "Git branches", "composting", "the Cold War", "password managers",
    "dog training", "coffee brewing", "inflation", "earthquakes", "the periodic table",
    "wind turbines", "budget travel in Japan", "resume writing", "time management",
    "the human heart", "HTTP caching", "machine learning", "rainbows", "tides",
    "baking soda", "the Renaissance", "blood pressure", "home insulation", "Kubernetes pods",
    "recycling plastics", "mortgage rates", "your question", "this problem", "the request",
]
ASPECTS = [
    "the causes", "the symptoms", "the costs", "the history", "the main risks",
    "common mistakes", "practical tips", "the science behind it", "the pros and cons",
    "a worked example", "the definitions", "the alternatives", "the evidence",
    "the long-term effects", "the key terms", "the trade-offs", "the basics",
]

PROCESS = [
    "break down {t}", "look at how {t} works", "walk you through {t}",
    "go over the basics of {t}", "explain {t} step by step", "outline the key facts about {t}",
    "review what is known about {t}", "summarize {t}", "compare the main options for {t}",
    "dig into {t}", "cover {t} in three parts", "answer this in two steps",
    "lay out the main points", "give a quick definition of {t}", "check the numbers on {t}",
    "research {t}", "think through {t}", "focus on the most important parts of {t}",
    "address each part of your question", "analyze {t}", "examine {t} closely",
    "explore {t} from a few angles", "unpack {t}", "sketch out an answer on {t}",
    "structure this answer around {t}", "tackle {t} piece by piece", "map out {t}",
    "go through {t} point by point", "evaluate the options for {t}",
    "start with the fundamentals of {t}", "gather the relevant facts about {t}",
    "identify the key factors behind {t}", "weigh up the evidence on {t}",
    "clarify what you mean by {t}", "organize my thoughts on {t}", "reason about {t}",
    "figure out the best way to explain {t}", "describe {t} in plain terms",
    "investigate {t}", "consider {t} carefully", "take a closer look at {t}",
    "split this into smaller questions", "work out {t} from first principles",
    "work backwards from {a}", "pin down {a}", "narrow down {a}", "establish {a} first",
    "refine the estimate afterwards", "get to the bottom of {t}", "sort out {a}",
    "separate {a} from {b}", "deal with {a} and leave {b} for later", "untangle {t}",
    "go back over what you said about {t}", "double-check {a}", "tally up {a}",
    "cross-check {a} against {b}", "estimate {a} roughly", "run the figures on {t}",
]
GERUND = [
    "breaking down {t}", "looking at {t}", "explaining {t}", "outlining {t}",
    "reviewing {t}", "summarizing {t}", "comparing the options for {t}", "defining {t}",
    "analyzing {t}", "examining the question", "exploring {t}", "checking the facts on {t}",
    "going over {t}", "considering {t}", "identifying the key points",
]
FUTURE = ["I'll", "I will", "I'm going to", "I am going to", "I shall", "I'm gonna",
          "I'll now", "I will now", "I'm now going to", "I'll first", "I will first",
          "I'll quickly", "I'll briefly", "I'll carefully", "I'll next", "Next I'll",
          "Now I'll", "First I'll", "Ill", "Im going to"]
INTENT = ["I plan to", "I intend to", "I aim to", "I want to", "I'd like to", "I hope to",
          "My goal is to", "My aim here is to", "I'm planning to", "I mean to",
          "The plan is to", "What I want to do is", "I'm about to", "I need to", "I should",
          "I have to", "I must", "I'm aiming to", "I'd first like to", "I'm trying to",
          "My intention is to", "My task now is to", "I'm here to", "I'm setting out to",
          "I will try to", "I'll attempt to", "I'm hoping to", "I'll try to",
          "I'm keen to", "I'd prefer to", "I'd rather", "I propose to", "The idea is that I",
          "The idea is to", "I'm going to try and", "I'll try and", "I'm inclined to",
          "I'm looking to", "My hope is to", "My first move is to", "My instinct is to",
          "I wish to", "It makes sense for me to", "It's best if I", "I think I should",
          "I'll need to", "I'm going to have to", "Ideally I'd", "I'd first", "I want first to"]
LET = ["Let me", "Allow me to", "Permit me to", "Lemme", "Let me just", "Let me quickly",
       "Let me first", "Give me a moment to", "Give me a second to", "Let me now",
       "Let me start by", "Let me begin to", "Let me try to", "Let me briefly"]
WE = ["Let's", "Let us", "We'll", "We will", "We're going to", "Let's start to",
      "First, we'll", "Let's first", "Now let's", "We'll now", "Let's quickly"]
LEADS = ["", "", "", "", "Okay, ", "Alright, ", "Sure, ", "So, ", "Great question, ",
         "Right, ", "Well, ", "Hmm, ", "OK so ", "Good question. ", "Sure thing, ",
         "First, ", "Now, ", "To begin, ", "Before answering, ", "To answer this, "]

TOOL_GERUNDS = [
    "Searching for", "Looking up", "Checking", "Pulling up", "Fetching", "Gathering",
    "Consulting", "Scanning", "Reviewing", "Analyzing", "Compiling", "Crunching",
    "Cross-checking", "Verifying", "Reading through", "Loading", "Querying", "Collecting",
    "Double-checking", "Going through", "Digging through", "Sifting through", "Skimming",
    "Running a search for", "Browsing", "Retrieving", "Researching", "Processing",
    "Opening", "Accessing", "Cross-referencing", "Tallying", "Calculating", "Estimating",
    "Tracing", "Locating", "Confirming", "Matching up", "Combing through", "Parsing",
    "Inspecting", "Comparing", "Assessing", "Evaluating", "Weighing up", "Drafting",
    "Preparing", "Putting together", "Assembling", "Working out", "Figuring out",
    "Investigating", "Studying", "Examining", "Testing", "Downloading", "Referring to",
    "Auditing", "Tracking down", "Hunting for", "Lining up", "Consolidating", "Sorting through",
]
TOOL_OBJECTS = [
    "the latest guidance", "recent studies on {t}", "the documentation for {t}",
    "a few sources", "the relevant data", "what the experts say about {t}", "the numbers",
    "my notes on {t}", "the official figures", "current information on {t}",
    "the best answer", "reliable sources", "the details of {t}", "background on {t}",
    "up-to-date figures", "the context", "similar questions", "the records for {t}",
    "the tables for this year", "the rules on {t}", "a list of options", "the figures you gave",
    "the specs", "the sources on {t}", "the timeline of {t}", "the wording of your question",
    "the relevant sections", "your earlier message", "the maps", "the archive",
]
TOOL_TAILS = [" now.", ".", "...", " first.", " for you.", " - one sec.", " before I answer.",
              " right now.", " at the moment.", "…", " now, please wait.", " in the background."]

ING_VERBS = ["checking", "looking into", "working out", "reviewing", "pulling together",
             "searching for", "thinking about", "putting together", "reading up on"]

APPROACH = [
    "My approach is to {p}.", "My approach would be to {p}.",
    "The way I'll handle this is to {p}.", "The way I'd approach this is to {p}.",
    "Here's how I'll tackle {t}: I'll {p}.", "Here's my plan: {p}, then summarize.",
    "Here is the plan for answering this: {p}.", "My strategy is to {p}.",
    "The approach I'll take is to {p}.", "How I'll do this: first {p}, then wrap up.",
    "My method here is to {p}.", "The plan: {p}, then give examples.",
    "What I'll do is {p}.", "The best way for me to answer is to {p}.",
    "My game plan is simple: {p}.", "Here's what I'm going to do: {p}.",
    "The first thing I'll do is {p}.", "My first step is to {p}.",
    "My next step is to {p}.", "Step one for me: {p}.",
    "The way I see it, I should {p} before anything else.",
    "I think the best way to handle this is to {p}.",
    "Here's how I plan to handle {t}.", "Here's how I'm going to approach {t}.",
]
CLOSING = [
    "To finish, I'll recap the key points.", "To wrap up, let me summarize what we covered.",
    "Finally, I'll sum up the main ideas.", "To close, here's a quick recap of everything above.",
    "In closing, I'll restate the answer.", "Before I finish, I'll recap.",
    "Let me end by summarising.", "I'll conclude with a brief summary.",
    "Lastly, I'll pull it all together.", "That covers my analysis; now the summary.",
    "To round things off, I'll recap {a} and {b}.", "I'll finish by summarizing {t}.",
    "Let me wrap up with the main takeaways on {t}.", "Now I'll wrap this up.",
    "I'll end with a short recap of {a}.", "To conclude, I'll go back over {a}.",
    "Finally, let me tie together {a} and {b}.", "Wrapping up, I'll restate the key facts.",
    "Closing out, here's my recap.", "And to finish off, a quick recap of what I said.",
    "I'll close by summarising {a} and {b}.", "To end, I'll briefly recap {t}.",
    "As a last step, I'll summarize {t}.", "My final step is a summary of {a}.",
]
ORDER = [
    "First I'll cover {a}, then {b}, and finally {c}.", "I'll cover {a} first and {b} second.",
    "This answer covers {a}, {b} and {c}, in that order.", "Below, I go through {a}, then {b}.",
    "Here's what I'll cover: {a}, {b} and {c}.",
    "The answer has three parts: {a}, {b}, and {c}.", "Overview: {a} first, then {b}, then {c}.",
    "Structure of this answer: {a}, {b}, {c}.",
    "In what follows, I'll explain {a} before turning to {b}.",
    "We'll start with {a}, move to {b}, and end with {c}.",
    "Part one deals with {a}; part two with {b}.",
    "I'll split this into two parts: {a} and {b}.",
    "I'll go through {a}, {b} and {c} one at a time.",
    "This response is organized as follows: {a}, then {b}.",
    "Roadmap: {a}, {b}, {c}.", "Coming up: {a}, then {b}.",
    "I'll take {a} first, then move on to {b}.",
    "The sections below cover {a}, {b} and {c}.",
    "Here's the order I'll follow: {a}, {b}, then {c}.",
    "Plan for this answer: {a}, then {b}, then {c}.", "Below: {a}, {b}, and {c}.",
    "Three parts follow: {a}, {b} and {c}.", "Two sections follow: {a} and {b}.",
    "Order of topics: first {a}, then {b}.", "This splits into {a} and {b}.",
    "Sections: {a}; {b}; {c}.", "Covered below: {a}, {b} and {c}.", "What's ahead: {a} and {b}.",
    "In order: {a}, {b}, {c}.", "Up next: {a}, then {b}.", "Contents: {a}, {b}, {c}.",
    "This comes in two halves: {a}, then {b}.", "The breakdown: {a} first, {b} second.",
    "Four things below: {a}, {b}, {c} and a summary.", "I've split this into {a} and {b}.",
    "I'll handle {a} before getting to {b}.",
    "Let me go through {a}, then {b}, and wrap up with {c}.",
]
TASK = [
    "The user is asking about {t}.", "The user wants to know about {t}.",
    "This question is about {t}.", "The question asks me to explain {t}.",
    "You're asking about {t}, so I'll focus on {a}.", "So the question is really about {t}.",
    "Okay, so you want to know about {t}.", "The request is for an explanation of {t}.",
    "The user seems to want a summary of {t}.", "The task here is to explain {t}.",
    "This is a question about {t}, which I'll answer in parts.",
    "Reading the question, the focus is {a}.", "The prompt asks for {a} of {t}.",
    "I see you're asking about {t}.", "It looks like you want to understand {t}.",
    "I understand you want to know about {t}.", "The user would like {a} of {t}.",
    "It sounds like you want to understand {t}.", "The task is to describe {t}.",
    "You'd like to know about {a} of {t}.", "What you're after is {a} of {t}.",
    "If I understand correctly, you want {a} of {t}.", "You seem to be asking about {t}.",
    "The user needs help with {t}.", "So the ask is a comparison of {a} and {b}.",
]
THINKING = [
    "Hmm, let me reconsider that.", "Wait, I should double-check this.",
    "Actually, let me rethink the second point.", "Thinking this through step by step.",
    "Let me think.", "I need to be careful here.", "Let me make sure I have this right.",
    "Okay, that doesn't add up; let me recalculate.", "Now that I've checked the basics, I'll move on.",
    "I've gathered enough information to answer.", "Having reviewed the sources, I can now answer.",
    "Let me think about {t} for a second.", "Wait, let me go back to {a}.",
    "Hold on, I should verify {a} first.", "Let me reason through {t} carefully.",
    "I'll think step by step about {t}.", "Let's think step by step.",
    "Step 1: I will analyze the question.", "Step 2: I'll gather the facts about {t}.",
    "Phase one: understand the request.", "Before I dive in, I want to check {a}.",
    "First things first, let me check {a}.", "I'm double-checking {a} before answering.",
    "I'm thinking about how best to explain {t}.", "I'm considering {a} now.",
    "Let me take a step back and look at {t} again.", "I'll reread the question.",
    "I should restate the question first.", "I've finished checking {a}.",
    "That's my analysis of {a} done.", "I have now looked at {a}.",
]
TRANSITION = [
    "Now I'll move on to {b}.", "Next, I'll look at {b}.",
    "Moving on to the next part of my analysis.", "Turning now to {b}, I'll start with {a}.",
    "With that out of the way, let me turn to {b}.", "Now for the second part of your question.",
    "Next up, I'll tackle {b}.", "Having covered {a}, I'll now turn to {b}.",
    "Now that {a} is clear, I'll explain {b}.", "On to {b} next.",
    "Let me now switch to {b}.", "I'll come back to {a} later.", "Next, let's look at {b}.",
    "I'll get to {b} in a moment.", "Now, let me address {b}.",
    "I'll return to {a} after explaining {b}.", "Then I'll look at {b}.",
]
WAIT = [
    "One moment while I {v} {o}.", "Just a moment, I'm {g} {o}.", "Hang on while I {v} {o}.",
    "Give me a second.", "Bear with me while I {v} {o}.", "Hold on, let me {v} {o}.",
    "Please wait while I {v} {o}.", "One sec, {g} {o}…", "Give me a moment to think about {t}.",
    "Working on it.", "Still working on {t}.", "Almost done with the analysis.",
    "Search complete; compiling the answer.", "Just a sec while I {v} {o}.",
    "Bear with me a moment.", "Hang tight, {g} {o}.", "Give me a minute to {v} {o}.",
    "Please hold while I {v} {o}.", "I'll be right back with {a}.", "Let me get back to you on {a}.",
    "Wait a moment, {g} {o}.", "This will take me a second.",
]
WAIT_VERBS = ["check", "look up", "pull up", "find", "verify", "gather", "search for", "review",
              "work out", "confirm", "dig up", "look into"]

HAND_META = [
    "I'll start with the big picture and zoom in from there.",
    "Let me lay the groundwork before getting to the answer.",
    "Let me quickly jot down what I know so far.",
    "I'm going to think out loud for a moment.",
    "Okay, here is my thinking.", "Here's my reasoning, step by step.",
    "My thought process goes like this.", "My reasoning here is simple.",
    "Alright, time to answer the question.", "Okay, time to put it all together.",
    "I'll keep this short.", "I'll keep my answer brief.", "I'll try to keep it simple.",
    "I'll answer in two parts.", "I'll give you the short version first.",
    "Let me structure this clearly.", "I'll organise this into a few bullet points.",
    "I'm going to break this into sections.", "I'm going to list the options below.",
    "I will be breaking this down into steps.", "I'll be focusing on the practical side.",
    "I'll be walking you through each stage.", "I'll be comparing both approaches.",
    "As an AI, I will first analyze the request.", "As an AI assistant, I need to think carefully.",
    "Before answering, I should look at the context.", "Before I respond, I'll check the details.",
    "To answer your question, I need to look at two things.",
    "In order to answer this, I'll first define the terms.",
    "To address this, let me first recap the basics.",
    "Before diving in, let me set the scene.", "Before we get into it, I'll define a few terms.",
    "Here's how I'm thinking about it.", "Here's what I'm thinking.",
    "The first thing I need to do is understand the question.",
    "What I need to do first is check the facts.",
    "My job here is to explain this clearly.", "My goal here is to keep it practical.",
    "My plan is to answer in plain language.", "My first step will be to define the terms.",
    "Searching the web for an answer.", "Looking through my knowledge base.",
    "Running the numbers now.", "Consulting the manual.", "Analyzing your request...",
    "Processing...", "Thinking...", "Loading the relevant information.",
    "Checking my sources.", "Fetching the latest data now.", "Querying the knowledge base.",
    "Still thinking about this one.", "Let me pull that up for you.",
    "Let me look that up.", "Let me check.", "Let me see.", "Let me see what I can find.",
    "Let me find the right figures.", "Let me find out.", "Let me double-check my math.",
    "I'll double-check the figures.", "I'll verify that before going further.",
    "Now I'll put everything together.", "I'll now write up the answer.",
    "I'll draft an answer now.", "Now, on to the answer itself.",
    "That's the plan; now the details.", "With the plan set, here are the details.",
    "So my plan is to go step by step.", "The plan is simple: define, explain, summarise.",
    "First, I want to understand what you're really asking.",
    "First, let me restate the question in my own words.",
    "To start, I'll restate your question.", "To begin with, I'll define the term.",
    "Let me rephrase the question to make sure I've got it.",
    "I'm working through the steps now.", "I'm putting together a short answer.",
    "Reading the question again to be sure.", "Re-reading your question.",
    "Alright, let me dig in.", "Okay, diving in.", "Let's dive in.", "Let's get into it.",
    "Let's break it down.", "Let's unpack this.", "Let's tackle this one step at a time.",
    "Let's go through this together step by step.", "Let's look at this from a few angles.",
    "We'll go through the details one by one.", "We're going to look at this in stages.",
    "I've broken the answer into three parts below.", "I've organised the points by priority.",
    "Below is my step-by-step breakdown.", "What follows is my analysis.",
    "Here's a breakdown of how I got there.", "Here's how I worked it out.",
    "Here's the approach I'm taking.", "Let me explain my approach first.",
    "I'll explain my reasoning as I go.", "I'll show my working below.",
    "I'll note the assumptions I'm making.", "I'll flag any uncertainty as I go.",
    "Next, I'll go into more depth.", "Then I'll give a recommendation.",
    "After that, I'll list some resources.", "Afterwards, I'll suggest next steps.",
    "Once that's done, I'll summarize.", "Finally, I'll give you my verdict.",
    "I'll wrap up with a recommendation.", "I'll end with a checklist.",
    "I'm going to wrap up now.", "I'm going to summarise the answer.",
    "Let me summarise what I found.", "Let me recap.", "Quick recap before I finish.",
    "To recap what I did: I checked the facts and compared options.",
    "I checked three sources before writing this.", "I looked at the data before answering.",
    "I've now gone through each part of your question.",
    "I’ll start by looking at the data.", "I’m going to walk through it.",
    "Let’s break this question down.", "I’ll first lay out the options.",
    "i'll start by explaining the basics.", "let me think about this.",
    "im going to break this down", "lets go through it step by step",
    "Ok so first I'll figure out what you need.", "Now let me organise the answer.",
    "Give me a sec to pull the numbers.", "Allow me to explain my reasoning.",
    "Allow me to walk you through it.", "Permit me to outline my approach.",
]

# ---------------------------------------------------------------------- hard negatives

PERSONA = [
    "I'm going to miss the summer evenings.", "I'm going to the market later.",
    "I'm going to be an aunt next month!", "I'm going to cry, that's so sweet.",
    "I'm going to miss you all.", "I will always love the smell of rain.",
    "I plan to visit Lisbon next spring.", "I intend to keep learning the guitar.",
    "I hope you enjoy the trip.", "I can't wait for the holidays.",
    "I used to live near the coast.", "I love {t}!", "I'm so glad you asked about {t}!",
    "I'm going to bake a cake for my sister.", "I will never forget that concert.",
    "I'm planning a trip to the mountains.", "I want to be a pilot when I grow up.",
    "I'd like to thank everyone who came.", "I aim to run a marathon this year.",
    "I need to buy groceries after work.", "I should call my mother more often.",
    "I'm going to paint the kitchen yellow.", "I'll be in Paris next week.",
    "I'll see you at dinner.", "I will be thirty in June.", "I have to leave early today.",
    "I must admit, I'm a fan of {t}.", "I'm about to head out for a run.",
    "I'm going to get a puppy this spring.", "I hope to see the northern lights one day.",
    "We're going to the beach on Sunday.", "We'll miss the old house.",
    "My plan for the weekend is to relax.", "My goal this year is to read more.",
    "I'm going to sleep early tonight.", "I'm trying to drink less coffee.",
    "I'm going to be late, sorry!", "I intend to retire by sixty.",
    "I'm going to start a vegetable garden.", "Im going to miss this place.",
]
TEXTBOOK = [
    "Let us consider a right triangle with legs 3 and 4.", "Let x be the number of apples.",
    "Let's assume the interest rate stays at 5%.", "Let f(x) = 2x + 1.",
    "Consider a ball dropped from 10 metres.", "Suppose we heat the gas at constant volume.",
    "We will see that energy is conserved.", "Let us denote the radius by r.",
    "Let's say you save $200 a month.", "Imagine a train leaving the station at noon.",
    "Let n be a positive integer.", "Let us suppose the market is efficient.",
    "Let's imagine a city with no cars.", "Let the mass of the block be 2 kg.",
    "Let us call this point A.", "Let's take a loan of $10,000 at 4% as an example.",
    "Let us now consider the case where n is odd.", "We assume the surface is frictionless.",
    "We will show that the sum is finite.", "Let ABC be an isosceles triangle.",
    "Let's suppose your plant gets six hours of sun.", "Let us examine a simple circuit.",
    "Let us first consider an ideal gas.", "Let's consider a loaf that rises overnight.",
    "We now turn to the case of two charges.", "Consider two cars moving at the same speed.",
    "Let us look at a cell under a microscope.", "Let p denote the probability of rain.",
    "Let's say the dog weighs 20 kg.", "Let us assume the tank holds 50 litres.",
]
IDIOM_LEADS = ["Let me put it simply:", "Let me reassure you:", "I'll tell you one thing:",
               "Let me guess:", "Let me be frank:", "Let me be straight with you:",
               "Let me clarify one thing:", "I'll be blunt:", "Let me stress this:",
               "Let me warn you:", "I have to say,", "Let me just say,", "I must say,",
               "Let me tell you,", "I'll be honest:", "Let me put it another way:",
               "Let me be clear:", "Let me remind you:", "I'll admit it:", "Let me point out that"]
IDIOMS = [
    "Let me just say, that's a great choice.", "Let me be clear: smoking harms your lungs.",
    "Let me tell you, Lisbon in spring is lovely.", "Let me know if you need more details.",
    "Let me give you an example.", "Let me put it this way: the bigger the tank, the longer it lasts.",
    "Let me guess, you tried restarting it.", "I'll be honest, it's not cheap.",
    "I'll say this: it works.", "I must say, that's impressive.",
    "I have to admit it's a clever design.", "Let me help you with that.",
    "Let me know how it goes!", "Let me be honest: most diets fail.",
    "I'll tell you what, it's worth the money.", "Let me remind you that the deadline is Friday.",
    "Let me assure you, it's safe.", "I'm going to be honest, it's a tough call.",
    "Let me show you a quick example.", "Let me share a tip: freeze the butter first.",
    "Let me recommend a good book on {t}.", "Let me suggest a simpler recipe.",
    "Let me add that prices vary by region.", "Let me congratulate you on the new job!",
    "Let me introduce the main idea: heat rises.", "I'll be happy to help.",
    "I'll be glad to answer more questions.", "I'd be happy to explain more.",
    "Let me be the first to say welcome!", "Let me just add one warning: unplug it first.",
    "Trust me, it's worth it.", "Believe me, you'll love it.", "Mind you, it's expensive.",
    "Let me stress that safety comes first.", "Let me point out that the fee is refundable.",
    "Let me emphasise: never mix bleach and ammonia.", "Let me note that results vary.",
]
QUOTED = [
    '"Let me check the map first," Mara whispered.',
    'The detective said, "I\'ll start by questioning the butler."',
    'In the film, the robot says "Searching for survivors."',
    'Her note read: "I plan to explain everything tomorrow."',
    '"One moment while I find your file," the clerk said.',
    '"I\'m going to analyze the footage," said the agent.',
    'He muttered, "Let me think about this."',
    '"Allow me to explain," the butler replied.',
    'The captain shouted, "We\'ll start by checking the engines!"',
    '"First I\'ll cover the history, then the maths," the teacher announced.',
    '“Let me look into it,” the mayor promised.', '“I’ll begin with the basics,” she said.',
    'The sign said "Checking tickets ahead."',
    'A common chatbot reply is "Let me look that up for you."',
    'Phrases like "I\'ll break this down" make an answer sound robotic.',
    'Avoid starting emails with "I am writing to".',
    '"My approach is simple," the coach told reporters.',
    '"Hang on while I find it," Grandpa said, rummaging in the drawer.',
    'The wizard said, "Let me consult the stars."',
    '"Searching for the latest guidance now," the app displayed.',
    'The nurse said, "I\'ll check your blood pressure first."',
    '"I intend to win," she declared.', '"Let us consider the evidence," said the judge.',
    'Tom laughed and said, "I\'m going to miss this."',
    '"To finish, I\'ll sing one more song," the singer told the crowd.',
]
INSTRUCTIONS = [
    "First, preheat the oven to 200 °C.", "Start by checking the tyre pressure.",
    "Search for the latest guidance on the government website.",
    "Look up your local recycling rules.", "Check the label before you buy.",
    "Next, add the flour slowly.", "Finally, let it cool for ten minutes.",
    "To finish, sprinkle salt on top.", "Begin with a five-minute warm-up.",
    "Review your budget once a month.", "Break the task into small steps.",
    "Compare prices at three shops before buying.", "Analyze your spending for a month.",
    "Consider talking to a doctor about {t}.", "Think about what you want to achieve.",
    "Go through your wardrobe and donate what you don't wear.",
    "Outline your essay before you write it.", "Summarize each chapter in one sentence.",
    "Look at the roots before repotting.", "Explore the old town on foot.",
    "Check the weather before you set off.", "Start with small amounts and build up.",
    "Then stir in the sugar.", "After that, rinse the brush in warm water.",
    "Next, open the settings menu.", "Then run the command again.",
    "Finally, restart your computer.", "First, unplug the device.",
    "Step 1: Mix the flour and sugar.", "Step 2: Whisk the eggs.",
    "Step 3: Bake for 25 minutes.", "Now add the eggs one at a time.",
    "Let's add the eggs now.", "Let the dough rest for an hour.",
    "Let it simmer for ten minutes.", "Let the paint dry overnight.",
    "Take a closer look at the leaves for spots.", "Double-check the measurements.",
    "Walk the dog before feeding it.", "Plan your route in advance.",
    "Write down three goals for the week.", "Research the company before the interview.",
    "Give yourself a day to recover.", "Wait a moment before pouring.",
    "Give it a second to load.", "Hold on to the railing.",
]
PROCESS_FACTS = [
    "Researchers analysed data from 10,000 patients.", "Search engines rank pages by relevance.",
    "The committee will review the proposal next week.",
    "Scientists are searching for signs of life on Mars.", "The plan is funded until 2030.",
    "The approach works best for small teams.", "This method breaks the problem into smaller parts.",
    "Engineers check the bridge every year.", "The first step in photosynthesis is light absorption.",
    "The next section of the manual covers safety.", "The report outlines three options.",
    "The study examined sleep in teenagers.", "Auditors go through the accounts every spring.",
    "The app searches your photos for faces.", "Doctors look at your history before prescribing.",
    "The course covers {t} in three weeks.", "Economists expect inflation to fall.",
    "The algorithm compares each pair of items.", "A good summary restates the main idea.",
    "Historians still debate the causes of the war.", "Most guides start with the basics.",
    "The browser checks the cache before downloading.", "The thermostat checks the temperature every minute.",
    "Your bank will review the application within five days.",
    "The final chapter summarizes the findings.", "The strategy paid off in the long run.",
    "The teacher will explain the rules on Monday.", "Inspectors are checking the wiring now.",
    "The council plans to build a new library.", "The company intends to hire 200 people.",
    "They're going to announce the results tomorrow.", "She plans to study medicine.",
    "He'll start by learning the scales.", "The crew is searching the area now.",
    "The museum is going to close for repairs.", "My sister is going to run a marathon.",
    "The goal of the treaty was to end the war.", "The aim of compost is to return nutrients to soil.",
    "The plan had three stages.", "The approach is called spaced repetition.",
    "Pilots run through a checklist before take-off.", "The software scans files for viruses.",
    "Looking at the data, sales rose by 4%.", "Looking back, the decision was right.",
    "Checking your tyres monthly saves fuel.", "Searching online is the quickest way to compare prices.",
    "Reviewing notes daily improves memory.", "Analyzing soil tells you what to add.",
    "Gathering firewood was a daily chore.", "Thinking ahead reduces stress.",
]
ADVICE = [
    "I recommend starting with index funds.", "I think the second option is safer.",
    "I'd suggest watering twice a week.", "I don't have personal opinions, but many experts agree.",
    "I'm not a doctor, so please ask one.", "I hope this helps!", "I'm happy to help with that.",
    "I agree that it's confusing.", "I'd avoid the cheaper model.", "I think you'll like it.",
    "I believe the answer is 42.", "I'm sorry to hear about your cat.", "I understand your concern.",
    "I would choose the blue one.", "I'd say yes, but check the warranty.",
    "I know it's frustrating.", "I wouldn't worry too much about it.",
    "In my view, both are fine.", "My advice is to wait a week.", "My recommendation is the larger size.",
    "My favourite is the lemon cake.", "My answer is yes.", "I can recommend a few books on {t}.",
    "I suggest you keep a diary.", "I'd start with the cheaper option.",
    "I doubt it will rain.", "I'm confident this will work.", "I'm afraid that's not possible.",
    "I'd recommend seeing a vet.", "I personally prefer tea.",
    "Hope that helps!", "Good luck with your project!", "Feel free to ask more.",
    "Great question!", "Sure!", "Good one!", "Absolutely.", "Thanks for asking!",
    "You're welcome.", "Happy baking!", "Enjoy your trip!", "Have fun!",
]
SUMMARY = [
    "In summary, tides come from the Moon's pull.", "To sum up, both options work.",
    "Overall, the benefits outweigh the costs.", "In short: save early.",
    "The key takeaway is to save early.", "In conclusion, exercise helps sleep.",
    "To summarise, {t} matters more than most people think.", "All in all, it's a good deal.",
    "So, the answer is yes.", "Bottom line: drink when you're thirsty.",
    "In a nutshell, heat makes air rise.", "To recap: water, sun and patience.",
    "Finally, remember to rest.", "Lastly, keep your receipts.", "First, some background.",
    "The short answer is no.", "The long answer is more complicated.",
    "That's the main difference between the two.", "That covers the basics of {t}.",
    "Those are the three main causes.", "Here is the short story of {t}.",
    "Here's a quick example.", "Here are the main points.", "Here's why.", "Here's the recipe.",
]
HEADERS = [
    "Causes:", "Symptoms and treatment", "Key points:", "Pros and cons", "Ingredients:",
    "## Overview", "### Step 2: Prepare the soil", "Summary", "What you need:", "Tips:",
    "1. Mix the dry ingredients.", "2. Add the water.", "- Costs", "- Risks and benefits",
    "Option A: rent", "Option B: buy", "Part 1: The basics", "Background", "Why it happens",
    "How to fix it", "Common mistakes:", "Next steps:", "The plan:", "Timeline:",
    "Overview: {a}, {b} and {c}.", "Definitions, examples and exercises",
]
FACTS = [
    "The water cycle moves water between the oceans, the air and the land.",
    "Compound interest means you earn interest on your interest.",
    "A sourdough starter is a mix of flour, water and wild yeast.",
    "Black holes form when massive stars collapse.",
    "The French Revolution began in 1789.",
    "Your skin makes vitamin D when exposed to sunlight.",
    "A decorator wraps a function to change its behaviour.",
    "Tomato blight spreads fastest in warm, wet weather.",
    "Jet lag is worse when you fly east.", "Paying bills on time raises your credit score.",
    "White blood cells fight infection.", "Solar panels still work on cloudy days.",
    "Most marathon plans last about sixteen weeks.", "Overwatering kills more houseplants than drought.",
    "The Roman Empire split in two in 395.", "Electric cars have fewer moving parts.",
    "Adults need seven to nine hours of sleep.", "An inner join returns only matching rows.",
    "Cats need taurine in their diet.", "Spanish has two verbs for 'to be'.",
    "Carbon dioxide traps heat in the atmosphere.", "Plants turn light into sugar.",
    "Index funds track a market index.", "Migraines often come with sensitivity to light.",
    "A branch in Git is a movable pointer to a commit.", "Compost needs both greens and browns.",
    "The Cold War ended in 1991.", "A password manager stores your passwords securely.",
    "Dogs learn best with short, frequent sessions.", "Coarse grounds suit a French press.",
    "Inflation reduces what your money can buy.", "Most earthquakes happen along plate boundaries.",
    "The periodic table has 118 elements.", "Wind turbines turn faster in stronger wind.",
    "Rail passes can save money in Japan.", "Keep your resume to one or two pages.",
    "The heart pumps about five litres of blood a minute.",
    "The Cache-Control header tells browsers how long to keep a response.",
    "Machine learning models learn patterns from data.",
    "Rainbows appear when sunlight is refracted by raindrops.", "Tides rise and fall twice a day.",
    "Baking soda needs an acid to react.", "The Renaissance began in Italy.",
    "High blood pressure often has no symptoms.", "Loft insulation can cut heating bills.",
    "A pod is the smallest deployable unit in Kubernetes.", "Not all plastics can be recycled.",
    "Fixed-rate mortgages keep the same rate for the term.",
    "There is no single magic number; needs depend on your size and activity.",
    "It depends on the weather, your budget and how much time you have.",
    "Yes, but only if you store it in the fridge.", "No, that's a common myth.",
    "About 70% of the Earth's surface is covered by water.", "It takes roughly eight minutes.",
    "You'll need a screwdriver and about an hour.", "This will take about twenty minutes.",
    "You'll notice the dough rising after an hour.", "We need about eight glasses of fluid a day, including food.",
    "We see the phases because the Moon orbits Earth.", "We still don't fully understand dark matter.",
    "The first option costs less but takes longer.", "The second step is the hardest.",
    "Start small, and the habit will grow.", "If it smells sour, throw it away.",
    "Now the important part: never leave it unattended.", "Then it cools and condenses into clouds.",
    "Next comes the drying stage, which takes a week.", "After that, the yeast goes dormant.",
    "First, the water evaporates.", "Then, the vapour forms clouds.", "Finally, rain falls.",
    "Now, most experts recommend a lower dose.", "Let's not forget the cost of insurance.",
    "Let them cool before serving.", "Let your doctor know about any allergies.",
    "Let the kids help with the baking.", "My grandmother made this every Sunday.",
    "My cat loves sleeping in the sun.", "Our planet is about 4.5 billion years old.",
    "Our bodies are mostly water.", "Us humans are bad at judging risk.",
]

LIFE_SUBJECTS = ["I'm going to", "I will", "I plan to", "I intend to", "I want to", "I'd like to",
                 "I hope to", "I need to", "We're going to", "I'm about to", "I'll", "I'm planning to",
                 "My plan is to", "My goal is to", "I aim to", "I'm gonna", "I really want to"]
LIFE = ["miss {who}", "visit {where}", "buy a new bike", "learn to swim", "move to {where}",
        "throw a party for {who}", "retire early", "see {who} tomorrow", "try the new café",
        "take a nap", "paint the fence", "adopt a cat", "run a half marathon",
        "spend the summer in {where}", "call {who} tonight", "cook dinner for {who}",
        "get married in {where}", "finish my degree", "sell the car", "quit sugar",
        "plant roses this year", "go camping with {who}", "watch the match tonight",
        "wear the red dress", "take piano lessons", "fly to {where} on Friday",
        "sleep in on Sunday", "grow my own vegetables", "be a great dad", "stay home today"]
WHO = ["my brother", "Grandma", "my friends", "the kids", "my old team", "you", "everyone"]
WHERE = ["Lisbon", "the coast", "Canada", "my hometown", "the mountains", "Rome", "Kenya"]
IMPERATIVES = ["Check", "Search", "Look up", "Review", "Compare", "Analyze", "Break down",
               "Outline", "Summarize", "Explore", "Consider", "Gather", "Start with",
               "Begin with", "Think about", "Go over", "Examine", "Research", "Plan",
               "Write down", "Read", "Double-check", "Measure", "Inspect", "Clean"]
USER_OBJECTS = ["your receipts", "the label", "the manual", "local listings",
                "your bank statement", "the soil", "the recipe", "the warranty",
                "your notes", "the instructions", "the fuse box", "the timetable",
                "your symptoms", "the contract", "the reviews", "your options",
                "the costs of {t}", "what others say about {t}", "the basics of {t}"]
IMP_LEADS = ["", "", "First, ", "Next, ", "Then ", "Finally, ", "To finish, ", "After that, ",
             "Before you start, ", "If in doubt, ", "Always ", "Don't forget to ",
             "You should ", "You'll want to ", "You can ", "It helps to ", "Try to "]
IMP_TAILS = [".", " first.", " before you start.", " every week.", " carefully.",
             " before buying.", " twice.", " online.", " with a friend."]
AGENTS = ["Researchers", "Scientists", "Doctors", "The committee", "Engineers", "The app",
          "Most banks", "Teachers", "The software", "Inspectors", "Historians", "Analysts",
          "The browser", "Judges", "The council", "Farmers", "Nurses", "The team", "My doctor",
          "The company", "Students", "Editors", "The report", "The study", "The lab"]
AGENT_VERBS = ["analysed", "reviewed", "checked", "searched for", "looked at", "compared",
               "examined", "summarized", "outlined", "are going to study", "plan to review",
               "will check", "intend to publish", "first look at", "start by measuring",
               "are searching for", "regularly review", "went through", "broke down",
               "explored", "will explain", "are reviewing"]
AGENT_OBJECTS = ["the results", "the data", "thousands of samples", "the budget",
                 "new evidence on {t}", "the effects of {t}", "the old records", "the plans",
                 "each case", "the latest figures", "the risks", "the soil", "the findings"]
AGENT_TAILS = [".", " last year.", " every spring.", " in 2019.", " before approving it.",
               " next month.", " each week.", " in detail.", " over ten years."]
CONTENT = [
    "{T} is easier to understand with an example.", "{T} has changed a lot in the last decade.",
    "Many people misunderstand {t}.", "{T} is a popular topic for beginners.",
    "Experts disagree about {t}.", "{T} depends on several factors.",
    "The history of {t} is fascinating.", "There are three main types of {t}.",
    "{T} affects millions of people.", "A good book on {t} is a great place to start.",
    "Understanding {t} can save you money.", "{T} is often explained badly.",
    "Most questions about {t} have simple answers.", "{T} works differently than most people think.",
    "Costs for {t} vary widely.", "The basics of {t} take an afternoon to learn.",
    "When it comes to {t}, {a} matter most.", "{A} of {t} are well documented.",
    "People often ask about {a} of {t}.", "{A} are the first thing to understand.",
    "You can learn {t} in a few weeks.", "We know a lot about {a} of {t}.",
    "If you're new to {t}, start with {a}.", "The biggest myth about {t} concerns {a}.",
    "Books on {t} usually begin with {a}.", "Next comes {b}, which is simpler.",
    "Then there are {b} to think about.", "Finally, {c} deserve a mention.",
    "First, {a}: they are easy to spot.", "Now, {b} are a different story.",
    "Three things matter here: {a}, {b} and {c}.", "The course has three parts: {a}, {b} and {c}.",
    "Now, the important thing is {a}.", "Now, the tricky part is {b}.",
    "The key thing with {t} is {a}.", "Below freezing, the process slows down.",
    "Consider using a timer for {t}.", "Consider asking an expert about {a}.",
    "The guide covers {a}, {b} and {c}.", "Most books on {t} are split into {a} and {b}.",
    "{A} and {b} are closely linked.", "Few guides explain {b} well.",
]

# Short plans with no topic at all ("I'm going to start with an example."), and step headers
# that narrate working on the answer rather than doing a task.
GENERIC_VERBS = ["start with", "begin with", "open with", "lead with", "explain", "show",
                 "evaluate", "outline", "research", "consider", "crunch", "try", "look at",
                 "go over", "check", "review", "list", "compare", "describe", "cover", "clarify",
                 "summarize", "identify", "walk through", "focus on", "point out", "sketch"]
GENERIC_OBJECTS = ["an example", "a definition", "the simplest explanation", "a quick story",
                   "the short answer", "the background", "why", "how it works", "the steps",
                   "each option", "each choice", "the topic", "a few angles", "the numbers",
                   "the details", "the options", "the main points", "a couple of things",
                   "the key information", "relevant facts", "a different approach",
                   "the most common case", "the big picture", "what matters most",
                   "both sides", "the main idea", "the theory", "the practical part"]
GENERIC_SUBJECTS = ["I'll", "I will", "I'm going to", "I am going to", "I'll first", "I have to",
                    "Let me", "I want to", "I plan to", "I'd like to", "First I'll", "Now I'll",
                    "I'll now", "I will now", "I'm gonna", "Next, I'll", "I'll just"]
STEP_VERBS = ["Identify", "Gather", "Understand", "Analyze", "Clarify", "Research", "Review",
              "Define", "Break down", "Restate", "Summarize", "Check", "Consider", "Outline"]
STEP_OBJECTS = ["the key information", "relevant facts about {t}", "the question",
                "the requirements", "what the user wants", "the main factors", "the sources",
                "the problem", "the context", "the constraints", "the answer", "my assumptions"]
GERUND_CONTENT = [
    "Checking the oil takes about two minutes.", "Analyzing soil samples shows what it lacks.",
    "Thinking of you and wishing you well.", "Breaking news often contains errors.",
    "Looking after a puppy is hard work.", "Reviewing your notes before bed helps memory.",
    "Searching by postcode is the fastest way.", "Running every day can strain your knees.",
    "Reading aloud helps children learn words.", "Working from home saves commuting time.",
    "Planning meals ahead cuts waste.", "Comparing prices online is easy these days.",
    "Gathering wild mushrooms can be dangerous.", "Opening the window lets the steam out.",
    "Making bread at home is cheaper.", "Cooking rice in a pan takes twenty minutes.",
    "Learning {t} takes time.", "Understanding {t} helps you decide.",
    "Checking {t} regularly avoids surprises.", "Exploring {t} is a fun weekend project.",
    "Researching {t} can be overwhelming at first.", "Summarizing a book helps you remember it.",
    "Building a habit takes about two months.", "Walking after meals helps digestion.",
]
NEGATIVE_SHAPES = [
    "If I were you, I would start by {imp}.", "If I were you, I'd {imp} first.",
    "My approach to {hobby} is pretty relaxed.", "My approach to {hobby} is simple: have fun.",
    "My plan for the {place} this year includes tomatoes.", "My strategy for {hobby} is patience.",
    "To answer your question, {fact}", "To answer your question: {fact}",
    "As an AI, I can't see images, but I can describe {t}.",
    "The user manual explains how to set it up.", "The user must log in first.",
    "Users often ask about {t}.", "The question of {t} is still open.",
    "We can split the day into three parts: morning, afternoon and evening.",
    "There are two parts to a good answer: accuracy and clarity.",
    "The answer is in the second chapter.", "This question comes up a lot.",
    "That's a good question, and the answer is yes.", "Your question is a common one.",
    "The steps are simple.", "The next step is to add water.", "Here's the thing: {fact}",
    "One moment of carelessness can ruin {t}.", "Hold the brush at an angle.",
    "Wait until the paint is dry.", "Bear in mind that {fact}", "Second, {fact}",
]
HOBBIES = ["gardening", "budgeting", "running", "cooking", "travel", "saving", "parenting"]
PLACES = ["garden", "allotment", "balcony", "greenhouse"]


def _fill(template: str, rng: random.Random) -> str:
    topic = rng.choice(TOPICS[:-3]) if "{T}" in template else rng.choice(TOPICS)
    a, b, c = rng.sample(ASPECTS, 3)
    text = template
    if "{p}" in text:
        text = text.replace("{p}", rng.choice(PROCESS))
    return (text.replace("{T}", topic[:1].upper() + topic[1:]).replace("{t}", topic)
            .replace("{A}", a[:1].upper() + a[1:]).replace("{a}", a).replace("{b}", b).replace("{c}", c)
            .replace("{v}", rng.choice(WAIT_VERBS)).replace("{g}", rng.choice(ING_VERBS))
            .replace("{o}", _fill(rng.choice(TOOL_OBJECTS), rng) if "{o}" in text else ""))


def _lead(prefix: str, text: str) -> str:
    """``prefix`` before ``text``, its first word lower-cased unless it is "I"."""
    if not prefix or prefix.endswith(". "):
        return prefix + text
    first = text.split(" ", 1)[0]
    if first in ("I", "Ill", "Im") or first.startswith("I'"):
        return prefix + text
    return prefix + text[:1].lower() + text[1:]


def _variant(text: str, rng: random.Random) -> str:
    """A surface variant: curly quotes, British spellings, no apostrophe, lower case..."""
    roll = rng.random()
    if roll < 0.18:
        text = text.replace("'", "’").replace('"', "“", 1).replace('"', "”", 1)
    elif roll < 0.26:
        for us, uk in (("analyze", "analyse"), ("summarize", "summarise"), ("organize", "organise"),
                       ("Analyzing", "Analysing"), ("summarizing", "summarising")):
            text = text.replace(us, uk)
    elif roll < 0.31:
        text = text.replace("I'll", "Ill").replace("I'm", "Im").replace("Let's", "Lets")
    elif roll < 0.37:
        text = text[:1].lower() + text[1:]
    elif roll < 0.42:
        text = text.rstrip(".")
    return text


def _generate(rng: random.Random) -> list[dict]:
    rows: list[dict] = []

    def add(category: str, meta: bool, templates: list[str], n: int, lead: bool = False) -> None:
        for _ in range(n):
            text = _fill(rng.choice(templates), rng)
            if lead:
                text = _lead(rng.choice(LEADS), text)
            rows.append({"text": _variant(text, rng), "meta": meta, "category": category})

    def sentences(subjects: list[str], verbs: list[str], n: int, category: str) -> None:
        for _ in range(n):
            verb = _fill(rng.choice(verbs), rng)
            text = f"{rng.choice(subjects)} {verb}{rng.choice(['.', '.', '.', ':', '...', '!'])}"
            text = _lead(rng.choice(LEADS), text)
            rows.append({"text": _variant(text, rng), "meta": True, "category": category})

    sentences(FUTURE, PROCESS, 260, "plan-future")
    sentences(INTENT, PROCESS, 200, "plan-intent")
    sentences(LET, PROCESS, 160, "let-me")
    sentences(WE, PROCESS, 110, "lets-we")
    for _ in range(170):
        obj = _fill(rng.choice(TOOL_OBJECTS), rng)
        text = f"{rng.choice(TOOL_GERUNDS)} {obj}{rng.choice(TOOL_TAILS)}"
        if rng.random() < 0.15:
            text = "Now " + text[:1].lower() + text[1:]
        rows.append({"text": _variant(text, rng), "meta": True, "category": "tool-narration"})
    for _ in range(40):
        text = f"I'm {rng.choice(GERUND)}{rng.choice(TOOL_TAILS)}"
        rows.append({"text": _variant(_fill(text, rng), rng), "meta": True,
                     "category": "tool-narration"})
    for _ in range(200):
        text = f"{rng.choice(GENERIC_SUBJECTS)} {rng.choice(GENERIC_VERBS)} " \
               f"{rng.choice(GENERIC_OBJECTS)}{rng.choice(['.', '.', ':', '...', '!'])}"
        rows.append({"text": _variant(_lead(rng.choice(LEADS), text), rng), "meta": True,
                     "category": "plan-short"})
    for _ in range(80):
        label = rng.choice(["Step", "Phase", "Stage"])
        text = f"{label} {rng.randint(1, 5)}: {rng.choice(STEP_VERBS)} {rng.choice(STEP_OBJECTS)}."
        rows.append({"text": _variant(_fill(text, rng), rng), "meta": True,
                     "category": "step-narration"})
    add("waiting", True, WAIT, 90)
    add("approach", True, APPROACH, 130, lead=True)
    add("closing", True, CLOSING, 110)
    add("order-of-coverage", True, ORDER, 130)
    add("task-narration", True, TASK, 70)
    add("thinking", True, THINKING, 110)
    add("transition", True, TRANSITION, 90)
    rows += [{"text": _variant(t, rng), "meta": True, "category": "hand-written"} for t in HAND_META]

    add("persona", False, PERSONA, 120)
    add("textbook", False, TEXTBOOK, 90)
    add("idiom", False, IDIOMS, 120)
    add("quoted", False, QUOTED, 90)
    add("instruction", False, INSTRUCTIONS, 160)
    for _ in range(160):
        fact = rng.choice(FACTS)
        text = f"{rng.choice(IDIOM_LEADS)} {fact[:1].lower() + fact[1:]}"
        rows.append({"text": _variant(text, rng), "meta": False, "category": "idiom"})
    for _ in range(60):
        fact = rng.choice(FACTS)
        text = f"{rng.choice(['Now, ', 'So, ', 'Next, ', 'Then, ', 'Also, ', 'Now '])}" \
               f"{fact[:1].lower() + fact[1:]}"
        rows.append({"text": _variant(text, rng), "meta": False, "category": "fact"})
    add("process-fact", False, PROCESS_FACTS, 170)
    add("advice", False, ADVICE, 130)
    add("summary", False, SUMMARY, 90)
    add("header", False, HEADERS, 70)
    add("fact", False, FACTS, 300)
    add("fact", False, CONTENT, 260)
    add("gerund-content", False, GERUND_CONTENT, 120)
    for _ in range(200):
        fact = rng.choice(FACTS)
        imp = rng.choice(IMPERATIVES).lower() + " " + rng.choice(USER_OBJECTS)
        text = rng.choice(NEGATIVE_SHAPES).replace("{imp}", imp).replace(
            "{hobby}", rng.choice(HOBBIES)).replace("{place}", rng.choice(PLACES)).replace(
            "{fact}", fact[:1].lower() + fact[1:])
        rows.append({"text": _variant(_fill(text, rng), rng), "meta": False,
                     "category": "lookalike"})
    for _ in range(220):
        text = f"{rng.choice(LIFE_SUBJECTS)} {rng.choice(LIFE)}{rng.choice(['.', '!', '.'])}"
        text = text.replace("{who}", rng.choice(WHO)).replace("{where}", rng.choice(WHERE))
        rows.append({"text": _variant(text, rng), "meta": False, "category": "persona"})
    for _ in range(260):
        lead = rng.choice(IMP_LEADS)
        verb = rng.choice(IMPERATIVES)
        verb = verb.lower() if lead and not lead.endswith(", ") else verb
        text = _fill(f"{lead}{verb} {rng.choice(USER_OBJECTS)}{rng.choice(IMP_TAILS)}", rng)
        rows.append({"text": _variant(text[:1].upper() + text[1:], rng), "meta": False,
                     "category": "instruction"})
    for _ in range(230):
        text = _fill(f"{rng.choice(AGENTS)} {rng.choice(AGENT_VERBS)} "
                     f"{rng.choice(AGENT_OBJECTS)}{rng.choice(AGENT_TAILS)}", rng)
        rows.append({"text": _variant(text, rng), "meta": False, "category": "process-fact"})
    legacy = Path(__file__).parents[1] / "tests" / "data" / "meta_sentences.jsonl"
    for line in legacy.read_text(encoding="utf-8").splitlines():
        row = json.loads(line)
        rows.append({"text": row["text"], "meta": row["meta"], "category": "legacy-set"})
    seen, unique = set(), []
    for row in rows:
        if row["text"] not in seen:
            seen.add(row["text"])
            unique.append(row)
    return unique


def main() -> None:
    rows = _generate(random.Random(SEED))
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in rows), encoding="utf-8")
    meta = sum(r["meta"] for r in rows)
    print(f"wrote {OUT}: {len(rows)} sentences ({meta} meta, {len(rows) - meta} not)")


if __name__ == "__main__":
    main()
