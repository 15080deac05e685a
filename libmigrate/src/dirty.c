/* dirty.c - placeholder until written */
