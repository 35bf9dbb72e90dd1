"""Identity resolution: which source records are the same person, and why.

Layer 1 (`context.identity.graph`) is a pure library on plain `Record`s and `IdentityRules`;
layer 2 (`context.identity.service`) persists the identity graph, stable customer ids, the review
queue, do-not-link constraints and the action log in the database.
"""
