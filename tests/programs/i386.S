# A 32-bit static program: getpid and exit through int 0x80 (i386 numbers 20 and 1).
        .code32
        .globl  _start
        .text
_start:
        movl    $20, %eax
        int     $0x80
        movl    $1, %eax
        xorl    %ebx, %ebx
        int     $0x80
        hlt
        .section .note.GNU-stack,"",@progbits
