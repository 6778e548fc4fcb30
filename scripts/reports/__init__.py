"""What benchmarks and drills share to report figures: `tables` (one table as rich prints it and as the Markdown
written under reports/). Imports only rich; imported by `scripts.bench` and `scripts.dr`.
"""
