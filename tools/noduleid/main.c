#include <stdio.h>
#include "noduleid.h"
int main(void) { printf("%s\n", nid_version_string()); return 0; }
