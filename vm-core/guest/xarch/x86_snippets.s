# Hand-written x86-64 snippets for frontend::x86_64 tests (see
# vm-core/src/frontend/x86_64/native_check.rs): each computes
# u64 f(rdi, rsi, rdx) -> rax. Rebuild the byte table with:
#   as x86_snippets.s -o s.o && ld -e 0 -Ttext=0x1000 s.o -o s.elf && objcopy -O binary -j .text s.elf s.bin
.intel_syntax noprefix
.text
# Each snippet: u64 f(u64 rdi, u64 rsi, u64 rdx) -> rax
.globl s_flags_cmp64
s_flags_cmp64:
  cmp rdi, rsi
  jmp flagsout
.globl s_flags_cmp32
s_flags_cmp32:
  cmp edi, esi
  jmp flagsout
.globl s_flags_cmp8
s_flags_cmp8:
  cmp dil, sil
  jmp flagsout
.globl s_flags_add64
s_flags_add64:
  add rdi, rsi
  jmp flagsout
.globl s_flags_add32
s_flags_add32:
  add edi, esi
  jmp flagsout
.globl s_flags_sub16
s_flags_sub16:
  sub di, si
  jmp flagsout
.globl s_flags_test32
s_flags_test32:
  test edi, esi
  jmp flagsout
.globl s_flags_neg64
s_flags_neg64:
  neg rdi
  jmp flagsout
.globl s_flags_inc32
s_flags_inc32:
  cmp rdx, rsi
  inc edi
  jmp flagsout
.globl s_flags_dec64
s_flags_dec64:
  cmp rsi, rdx
  dec rdi
  jmp flagsout
.globl s_flags_and8
s_flags_and8:
  and dil, sil
  jmp flagsout
# all conditions (but parity) of the current flags as a bit mask in rax
flagsout:
  xor eax, eax
  setb al
  seto cl
  movzx ecx, cl
  shl ecx, 1
  or eax, ecx
  sets cl
  movzx ecx, cl
  shl ecx, 2
  or eax, ecx
  sete cl
  movzx ecx, cl
  shl ecx, 3
  or eax, ecx
  setl cl
  movzx ecx, cl
  shl ecx, 4
  or eax, ecx
  setle cl
  movzx ecx, cl
  shl ecx, 5
  or eax, ecx
  seta cl
  movzx ecx, cl
  shl ecx, 6
  or eax, ecx
  setbe cl
  movzx ecx, cl
  shl ecx, 7
  or eax, ecx
  setg cl
  movzx ecx, cl
  shl ecx, 8
  or eax, ecx
  setge cl
  movzx ecx, cl
  shl ecx, 9
  or eax, ecx
  setae cl
  movzx ecx, cl
  shl ecx, 10
  or eax, ecx
  setns cl
  movzx ecx, cl
  shl ecx, 11
  or eax, ecx
  setno cl
  movzx ecx, cl
  shl ecx, 12
  or eax, ecx
  setne cl
  movzx ecx, cl
  shl ecx, 13
  or eax, ecx
  shl rdi, 16
  xor rax, rdi
  ret
.globl s_shl_cl64
s_shl_cl64:
  mov rax, rdi
  mov ecx, esi
  shl rax, cl
  ret
.globl s_sar_cl32
s_sar_cl32:
  mov eax, edi
  mov ecx, esi
  sar eax, cl
  ret
.globl s_shr_cl8
s_shr_cl8:
  mov rax, rdi
  mov ecx, esi
  shr al, cl
  ret
.globl s_rol_cl64
s_rol_cl64:
  mov rax, rdi
  mov ecx, esi
  rol rax, cl
  ret
.globl s_ror_imm32
s_ror_imm32:
  mov eax, edi
  ror eax, 13
  ret
.globl s_sar_imm64
s_sar_imm64:
  mov rax, rdi
  sar rax, 37
  ret
.globl s_imul3_32
s_imul3_32:
  imul eax, edi, -7
  ret
.globl s_imul2_64
s_imul2_64:
  mov rax, rdi
  imul rax, rsi
  ret
.globl s_mul64
s_mul64:
  mov rax, rdi
  mul rsi
  xor rax, rdx
  ret
.globl s_imul1_64
s_imul1_64:
  mov rax, rdi
  imul rsi
  add rax, rdx
  ret
.globl s_mul32
s_mul32:
  mov eax, edi
  mul esi
  shl rdx, 32
  or rax, rdx
  ret
.globl s_idiv64
s_idiv64:
  mov rax, rdi
  or rsi, 1
  cqo
  idiv rsi
  imul rdx, rdx, 1000003
  add rax, rdx
  ret
.globl s_div32
s_div32:
  mov eax, edi
  or esi, 1
  xor edx, edx
  div esi
  shl rdx, 32
  or rax, rdx
  ret
.globl s_idiv32
s_idiv32:
  mov eax, edi
  or esi, 3
  cdq
  idiv esi
  shl rdx, 32
  or rax, rdx
  ret
.globl s_partial
s_partial:
  mov rax, rdx
  mov al, sil
  mov ecx, edi
  mov ah, cl
  mov cx, si
  add ax, cx
  movsx r8d, sil
  movzx r9d, di
  xor rax, r8
  add rax, r9
  ret
.globl s_cmov32
s_cmov32:
  mov rax, rdx
  cmp rdi, rsi
  cmovl eax, edi
  ret
.globl s_cmov64
s_cmov64:
  mov rax, rdx
  cmp edi, esi
  cmova rax, rsi
  ret
.globl s_sbb
s_sbb:
  cmp rdi, rsi
  sbb eax, eax
  adc rax, rdx
  ret
.globl s_lea
s_lea:
  lea rax, [rdi + rsi*8 - 0x1234]
  lea ecx, [rdx + rdx*2 + 7]
  add rax, rcx
  ret
.globl s_xchg
s_xchg:
  mov rax, rdi
  xchg rax, rsi
  sub rax, rsi
  ret
.globl s_movsx
s_movsx:
  movsx rax, dil
  movsxd rcx, esi
  movsx edx, dx
  add rax, rcx
  add rax, rdx
  cdqe
  ret
.globl s_stack
s_stack:
  push rbx
  push rdi
  mov rbx, rsi
  pop rax
  add rax, rbx
  pop rbx
  ret
.globl s_loop
s_loop:
  xor eax, eax
  mov ecx, esi
  and ecx, 63
  inc ecx
1:
  add rax, rdi
  rol rdi, 3
  dec ecx
  jnz 1b
  ret
