/* SPDX-License-Identifier: GPL-2.0-or-later */
#pragma once

/* Marks what libepistle exports: everything else stays hidden. */
#if defined(EP_COMPILATION)
#define EP_API __attribute__ ((visibility ("default")))
#else
#define EP_API
#endif

/* Marks the one symbol a module exports. */
#define EP_MODULE_EXPORT __attribute__ ((visibility ("default")))
