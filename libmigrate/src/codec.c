/* codec.c - placeholder until written */
