// long tracebox_clone3(struct clone_args* args, size_t size, int (*fn)(void*), void* arg);
//
// clone3 with a child stack (args->stack / stack_size). The parent gets the syscall's return
// value. The child starts on its own stack and calls fn(arg), then exits with its return value;
// it never returns into the caller's frames, which matters with CLONE_VM|CLONE_VFORK, where the
// parent's stack is shared and suspended.
#if defined(__x86_64__)
        .text
        .globl  tracebox_clone3
        .type   tracebox_clone3, @function
tracebox_clone3:
        .cfi_startproc
        mov     %rdx, %r8               // fn  (syscall preserves r8/r9)
        mov     %rcx, %r9               // arg
        mov     $435, %eax              // SYS_clone3
        syscall
        test    %rax, %rax
        jz      1f
        ret                             // parent (pid) or error (-errno)
1:      .cfi_undefined rip              // child: on the new stack, nothing to unwind into
        xor     %ebp, %ebp
        and     $-16, %rsp
        mov     %r9, %rdi
        call    *%r8
        mov     %eax, %edi
        mov     $231, %eax              // SYS_exit_group
        syscall
        hlt
        .cfi_endproc
        .size   tracebox_clone3, .-tracebox_clone3
#elif defined(__aarch64__)
        .text
        .globl  tracebox_clone3
        .type   tracebox_clone3, %function
tracebox_clone3:
        mov     x9, x2                  // fn
        mov     x10, x3                 // arg
        mov     x8, #435                // SYS_clone3
        svc     #0
        cbz     x0, 1f
        ret
1:      mov     x29, xzr
        mov     x30, xzr
        mov     x0, x10
        blr     x9
        mov     x8, #94                 // SYS_exit_group
        svc     #0
        brk     #0
        .size   tracebox_clone3, .-tracebox_clone3
#endif
        .section .note.GNU-stack,"",%progbits
