"""Wardbook on AWS, as AWS CDK (Python) stacks: one per environment from one typed config."""
