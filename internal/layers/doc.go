// Package layers holds, in its test, the rule of which part of the project may import which: the shop's
// services never import the sandbox that runs them, the grader never imports the engine or the CLI, and
// the leaf tables (release, topology) import nothing of ours. docs/ARCHITECTURE.md draws the same layers.
package layers
