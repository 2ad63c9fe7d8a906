/* getpid/gettid, kill/tgkill to self and the default actions of signals
   (no handler is ever installed: the VM does not deliver signals to
   handlers); ends in abort(), which raises SIGABRT: the process dies of
   it (exit status 134 under a shell, as qemu-riscv64 reports it). */
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/syscall.h>
#include <unistd.h>

int main(void)
{
    pid_t pid = getpid(), tid = gettid();
    printf("pid > 0: %d, tid == pid: %d\n", pid > 0, tid == pid);
    printf("kill(self, 0) = %d\n", kill(pid, 0));
    errno = 0;
    printf("kill(self, 65) = %d errno %d\n", kill(pid, 65), errno);
    errno = 0;
    printf("tgkill(self, self, -1) = %ld errno %d\n",
           syscall(SYS_tgkill, pid, tid, -1), errno);
    /* Default action "ignore". */
    printf("raise(SIGCHLD) = %d\n", raise(SIGCHLD));
    printf("raise(SIGURG) = %d\n", raise(SIGURG));
    printf("raise(SIGWINCH) = %d\n", raise(SIGWINCH));
    printf("kill(0, SIGCONT) = %d\n", kill(0, SIGCONT));
    /* Ignored by disposition. */
    signal(SIGUSR1, SIG_IGN);
    printf("raise(SIGUSR1) ignored = %d\n", raise(SIGUSR1));
    signal(SIGTERM, SIG_IGN);
    printf("kill(self, SIGTERM) ignored = %d\n", kill(pid, SIGTERM));
    signal(SIGTERM, SIG_DFL);
    /* Blocked: pending until unblocked (here: ignored on unblock). */
    sigset_t s, old;
    sigemptyset(&s);
    sigaddset(&s, SIGCHLD);
    sigprocmask(SIG_BLOCK, &s, &old);
    printf("blocked raise(SIGCHLD) = %d\n", raise(SIGCHLD));
    sigset_t pend;
    sigpending(&pend);
    printf("SIGCHLD pending: %d\n", sigismember(&pend, SIGCHLD));
    sigprocmask(SIG_SETMASK, &old, NULL);
    sigpending(&pend);
    printf("SIGCHLD pending after unblock: %d\n", sigismember(&pend, SIGCHLD));
    printf("abort\n");
    fflush(stdout);
    abort();
}
