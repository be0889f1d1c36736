"""The SWE environment's parts: tools the agent calls, the shipped task set, and the task generator."""
