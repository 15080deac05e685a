/* source.c - placeholder until written */
