package admissionload

import (
	"syscall"
	"time"
)

type syscallRusage syscall.Rusage

func getrusage(ru *syscallRusage) error {
	return syscall.Getrusage(syscall.RUSAGE_SELF, (*syscall.Rusage)(ru))
}

func (ru *syscallRusage) total() time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
