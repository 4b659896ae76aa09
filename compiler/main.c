/* main.c — placeholder; replaced by the CLI driver. */
#include <stdio.h>
int main(void)
{
	puts("smolc");
	return 0;
}
