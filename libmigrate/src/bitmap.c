/* bitmap.c - placeholder until written */
