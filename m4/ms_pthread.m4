# MS_CHECK_PTHREAD: find the compiler flag for POSIX threads and set
# PTHREAD_CFLAGS / PTHREAD_LIBS. glibc needs -pthread on both compile and link.
AC_DEFUN([MS_CHECK_PTHREAD], [
  AC_MSG_CHECKING([whether $CC accepts -pthread])
  ms_save_CFLAGS=$CFLAGS
  CFLAGS="$CFLAGS -pthread"
  AC_LINK_IFELSE([AC_LANG_PROGRAM([[#include <pthread.h>]],
      [[pthread_t t; return pthread_create(&t, 0, 0, 0);]])],
    [AC_MSG_RESULT([yes]); PTHREAD_CFLAGS="-pthread"; PTHREAD_LIBS="-pthread"],
    [AC_MSG_RESULT([no])
     AC_CHECK_LIB([pthread], [pthread_create], [PTHREAD_LIBS="-lpthread"],
       [AC_MSG_ERROR([POSIX threads are required (Debian package libc6-dev)])])])
  CFLAGS=$ms_save_CFLAGS
  AC_SUBST([PTHREAD_CFLAGS])
  AC_SUBST([PTHREAD_LIBS])
])
