// libbpfpm_clang.so: clang 14 as a library, BPF C in memory -> BPF ELF in memory (and the
// vmlinux.h PCH). Only ever loaded inside the compile child that libbpfpm_compiler.so forks
// (compiler.c), so neither LLVM nor its process-wide state reaches the calling process.
#include <cerrno>
#include <cstring>
#include <memory>
#include <string>
#include <vector>

#include "clang/Basic/Diagnostic.h"
#include "clang/Basic/DiagnosticOptions.h"
#include "clang/CodeGen/CodeGenAction.h"
#include "clang/Frontend/CompilerInstance.h"
#include "clang/Frontend/CompilerInvocation.h"
#include "clang/Frontend/FrontendActions.h"
#include "clang/Frontend/TextDiagnosticPrinter.h"
#include "clang/Frontend/Utils.h"
#include "clang/Lex/PreprocessorOptions.h"
#include "llvm/ADT/SmallString.h"
#include "llvm/Passes/PassPlugin.h"
#include "llvm/Support/FileSystem.h"
#include "llvm/Support/MemoryBuffer.h"
#include "llvm/Support/Path.h"
#include "llvm/Support/raw_ostream.h"

#include "bpfpm_compiler.h"
#include "compiler_internal.h"

#ifndef BPFPM_CLANG_RESOURCE_DIR
#error "BPFPM_CLANG_RESOURCE_DIR must name clang's resource dir (native/Makefile sets it)"
#endif

extern "C" {
void LLVMInitializeBPFTargetInfo(void);
void LLVMInitializeBPFTarget(void);
void LLVMInitializeBPFTargetMC(void);
void LLVMInitializeBPFAsmPrinter(void);
}

namespace {

// What `clang -target bpf -O2 -g -D__TARGET_ARCH_x86 -c` passes to -cc1 (clang 14), minus
// -mllvm options. -disable-free (skip tearing the AST down) suits a child that exits next.
const char *const kBaseArgs[] = {
	"-disable-free",
	"-triple", "bpf", "-O2", "-debug-info-kind=constructor", "-dwarf-version=5",
	"-debugger-tuning=gdb", "-mrelocation-model", "static", "-mframe-pointer=all",
	"-fmath-errno", "-ffp-contract=on", "-fno-rounding-math", "-resource-dir",
	BPFPM_CLANG_RESOURCE_DIR, "-D__TARGET_ARCH_x86", "-D__GCC_HAVE_DWARF2_CFI_ASM=1",
	"-fgnuc-version=4.2.1", "-ferror-limit", "19", "-vectorize-loops", "-vectorize-slp",
	"-faddrsig", "-discard-value-names", "-clear-ast-before-backend", "-disable-llvm-verifier",
	"-fdebug-compilation-dir=/",
};

// Records every file the preprocessor (or the PCH reader) touched, system headers included,
// so the cache can tell when a header an object was built from has changed.
class AllDeps : public clang::DependencyCollector {
public:
	bool needSystemDependencies() override { return true; }
	bool sawDependency(llvm::StringRef name, bool, bool, bool, bool missing) override
	{
		return !missing && !name.empty() && name[0] != '<';
	}
};

// Runs one compile (object when source != nullptr, else a PCH of main_name into pch_out).
int run_clang(const char *main_name, const char *source, size_t source_len, const char *pch_out,
	      const char *args, size_t args_len, bpfpm_clang_emit_fn emit, void *ctx)
{
	LLVMInitializeBPFTargetInfo();
	LLVMInitializeBPFTarget();
	LLVMInitializeBPFTargetMC();
	LLVMInitializeBPFAsmPrinter();

	std::vector<const char *> argv(std::begin(kBaseArgs), std::end(kBaseArgs));
	if (source) {
		argv.push_back("-emit-obj");
	} else {
		argv.push_back("-emit-pch");
		argv.push_back("-o");
		argv.push_back(pch_out);
	}
	// args need not end with a NUL: copy each one out.
	std::vector<std::string> extra;
	for (size_t i = 0; i < args_len;) {
		size_t n = strnlen(args + i, args_len - i);
		if (n)
			extra.emplace_back(args + i, n);
		i += n + 1;
	}
	for (const std::string &a : extra)
		argv.push_back(a.c_str());
	argv.push_back("-x");
	argv.push_back(source ? "c" : "c-header");
	argv.push_back(main_name);

	std::string diag_text;
	llvm::raw_string_ostream diag_os(diag_text);

	auto inv = std::make_shared<clang::CompilerInvocation>();
	bool ok;
	{
		llvm::IntrusiveRefCntPtr<clang::DiagnosticOptions> opts(new clang::DiagnosticOptions());
		clang::DiagnosticsEngine diags(new clang::DiagnosticIDs(), opts,
					       new clang::TextDiagnosticPrinter(diag_os, opts.get()), true);
		ok = clang::CompilerInvocation::CreateFromArgs(*inv, argv, diags);
	}
	if (!ok) {
		diag_os.flush();
		emit(ctx, BPFPM_COMPILE_DIAGNOSTICS, diag_text.data(), diag_text.size());
		return -EINVAL;
	}

	clang::CompilerInstance ci;
	ci.setInvocation(inv);
	ci.createDiagnostics(new clang::TextDiagnosticPrinter(diag_os, &ci.getDiagnosticOpts()), true);
	ci.setVerboseOutputStream(llvm::nulls());
	if (source)
		ci.getPreprocessorOpts().addRemappedFile(
			main_name, llvm::MemoryBuffer::getMemBufferCopy(llvm::StringRef(source, source_len),
									main_name)
					   .release());
	auto deps = std::make_shared<AllDeps>();
	ci.addDependencyCollector(deps);

	llvm::SmallVector<char, 0> object;
	if (source) {
		ci.setOutputStream(std::make_unique<llvm::raw_svector_ostream>(object));
		clang::EmitObjAction action;
		ok = ci.ExecuteAction(action);
	} else {
		clang::GeneratePCHAction action;
		ok = ci.ExecuteAction(action);
	}
	ok = ok && !ci.getDiagnostics().hasErrorOccurred();
	diag_os.flush();

	emit(ctx, BPFPM_COMPILE_DIAGNOSTICS, diag_text.data(), diag_text.size());
	if (ok && source)
		emit(ctx, BPFPM_COMPILE_OBJECT, object.data(), object.size());
	for (const std::string &d : deps->getDependencies()) {
		if (source && d == main_name)
			continue;
		llvm::SmallString<256> abs(d);
		llvm::sys::fs::make_absolute(abs);
		llvm::sys::path::remove_dots(abs, true);
		abs.push_back('\n');
		emit(ctx, BPFPM_COMPILE_DEPS, abs.data(), abs.size());
	}
	return ok ? 0 : -EINVAL;
}

} // namespace

extern "C" BPFPM_API int bpfpm_clang__run(const char *main_name, const char *source,
					  size_t source_len, const char *pch_out, const char *args,
					  size_t args_len, bpfpm_clang_emit_fn emit, void *ctx)
{
	try {
		return run_clang(main_name, source, source_len, pch_out, args, args_len, emit, ctx);
	} catch (const std::bad_alloc &) {
		static const char msg[] = "out of memory";
		emit(ctx, BPFPM_COMPILE_ERROR, msg, sizeof(msg) - 1);
		return -ENOMEM;
	}
}

// Debian's clang is built to run Polly's pass-builder hook (LINK_POLLY_INTO_TOOLS), and the
// static LLVM libraries this library is linked from do not include Polly: register nothing.
llvm::PassPluginLibraryInfo getPollyPluginInfo()
{
	return {LLVM_PLUGIN_API_VERSION, "Polly (not linked)", "0", [](llvm::PassBuilder &) {}};
}

// The entry must match what compiler.c looks up.
[[maybe_unused]] static const bpfpm_clang_run_fn kRunMatchesAbi = bpfpm_clang__run;
