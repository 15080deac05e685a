/* target.c - placeholder until written */
