/* msg.c - placeholder until written */
