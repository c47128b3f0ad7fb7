"""The local driver behind `molting up`: the planner on one machine, with processes for Jobs and a
local Ray Serve app for the RayService."""
