"""Node-classification commands: datasets, teacher, distill, evaluate."""
