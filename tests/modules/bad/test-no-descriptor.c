/* SPDX-License-Identifier: GPL-2.0-or-later */
/* A shared object that is not an epistle module. */
int test_no_descriptor_answer (void);

int
test_no_descriptor_answer (void)
{
	return 42;
}
