"""Commands of the inverse problem: fit (the particle model fitted to an operando movie)."""
