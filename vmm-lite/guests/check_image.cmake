# cmake -DIMG=file -P check_image.cmake: fails unless IMG is a 512-byte
# boot sector ending in 55 AA with the "VMGP" parameter block at 0x1dc.
file(SIZE "${IMG}" size)
if(NOT size EQUAL 512)
  message(FATAL_ERROR "${IMG}: ${size} bytes, want 512")
endif()
file(READ "${IMG}" sig OFFSET 510 LIMIT 2 HEX)
if(NOT sig STREQUAL "55aa")
  message(FATAL_ERROR "${IMG}: ends in ${sig}, want 55aa")
endif()
file(READ "${IMG}" magic OFFSET 476 LIMIT 4 HEX)
if(NOT magic STREQUAL "564d4750")
  message(FATAL_ERROR "${IMG}: no VMGP parameter block at 0x1dc")
endif()
