// In-process clang: BPF C in memory -> BPF ELF in memory (and the vmlinux.h PCH).
//
// Every compile runs in a forked child (see bpfpm_compiler.h for why); the child sends one
// framed result back over a pipe: int32 status, then four (uint64 length, bytes) parts.
#include <cerrno>
#include <csignal>
#include <cstdint>
#include <cstring>
#include <fcntl.h>
#include <memory>
#include <new>
#include <string>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>
#include <vector>

#include "clang/Basic/Diagnostic.h"
#include "clang/Basic/DiagnosticOptions.h"
#include "clang/Basic/Version.h"
#include "clang/CodeGen/CodeGenAction.h"
#include "clang/Frontend/CompilerInstance.h"
#include "clang/Frontend/CompilerInvocation.h"
#include "clang/Frontend/FrontendActions.h"
#include "clang/Frontend/TextDiagnosticPrinter.h"
#include "clang/Frontend/Utils.h"
#include "clang/Lex/PreprocessorOptions.h"
#include "llvm/ADT/SmallString.h"
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

struct bpfpm_compile_result {
	int status = 0;
	std::string parts[4];
};

namespace {

constexpr int kParts = 4;

// What `clang -target bpf -O2 -g -D__TARGET_ARCH_x86 -c` passes to -cc1 (clang 14), minus the
// arguments that only make sense for a one-shot process (-disable-free, -mllvm ...).
const char *const kBaseArgs[] = {
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

void set_error(bpfpm_compile_result &r, int err, const std::string &msg)
{
	r.status = -(err > 0 ? err : -err);
	r.parts[BPFPM_COMPILE_ERROR] = msg;
}

// Runs one compile (object when source != nullptr, else a PCH of main_name into pch_out).
// Only ever called in the forked child.
void run_clang(bpfpm_compile_result &r, const char *main_name, const char *source,
	       size_t source_len, const char *pch_out, const char *args, size_t args_len)
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
		r.status = -EINVAL;
		r.parts[BPFPM_COMPILE_DIAGNOSTICS] = diag_text;
		return;
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

	r.status = ok ? 0 : -EINVAL;
	r.parts[BPFPM_COMPILE_DIAGNOSTICS] = diag_text;
	if (ok && source)
		r.parts[BPFPM_COMPILE_OBJECT].assign(object.data(), object.size());
	std::string &dep_text = r.parts[BPFPM_COMPILE_DEPS];
	for (const std::string &d : deps->getDependencies()) {
		if (source && d == main_name)
			continue;
		llvm::SmallString<256> abs(d);
		llvm::sys::fs::make_absolute(abs);
		llvm::sys::path::remove_dots(abs, true);
		dep_text.append(abs.data(), abs.size());
		dep_text.push_back('\n');
	}
}

bool write_all(int fd, const void *buf, size_t len)
{
	const char *p = static_cast<const char *>(buf);
	while (len) {
		ssize_t n = write(fd, p, len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return false;
		p += n;
		len -= n;
	}
	return true;
}

[[noreturn]] void child_main(int fd, const char *main_name, const char *source, size_t source_len,
			     const char *pch_out, const char *args, size_t args_len)
{
	// The parent's handlers (Deno's) must not run here; die with the parent.
	for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGQUIT, SIGPIPE})
		signal(sig, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);

	bpfpm_compile_result r;
	run_clang(r, main_name, source, source_len, pch_out, args, args_len);

	int32_t status = r.status;
	bool ok = write_all(fd, &status, sizeof(status));
	for (int i = 0; ok && i < kParts; i++) {
		uint64_t n = r.parts[i].size();
		ok = write_all(fd, &n, sizeof(n)) && write_all(fd, r.parts[i].data(), n);
	}
	_exit(ok ? 0 : 1);
}

bool parse_frame(const std::string &buf, bpfpm_compile_result &r)
{
	size_t off = 0;
	int32_t status;
	if (buf.size() < sizeof(status))
		return false;
	memcpy(&status, buf.data(), sizeof(status));
	off += sizeof(status);
	for (int i = 0; i < kParts; i++) {
		uint64_t n;
		if (buf.size() - off < sizeof(n))
			return false;
		memcpy(&n, buf.data() + off, sizeof(n));
		off += sizeof(n);
		if (buf.size() - off < n)
			return false;
		r.parts[i].assign(buf.data() + off, n);
		off += n;
	}
	r.status = status;
	return off == buf.size();
}

bpfpm_compile_result *run_forked(const char *main_name, const char *source, size_t source_len,
				 const char *pch_out, const char *args, size_t args_len)
{
	auto *r = new (std::nothrow) bpfpm_compile_result();
	if (!r) {
		errno = ENOMEM;
		return nullptr;
	}
	try {
		int fds[2];
		if (pipe2(fds, O_CLOEXEC)) {
			set_error(*r, errno, std::string("cannot create a pipe: ") + strerror(errno));
			return r;
		}
		pid_t pid = fork();
		if (pid < 0) {
			int err = errno;
			close(fds[0]);
			close(fds[1]);
			set_error(*r, err, std::string("cannot fork the compiler: ") + strerror(err));
			return r;
		}
		if (pid == 0) {
			close(fds[0]);
			child_main(fds[1], main_name, source, source_len, pch_out, args, args_len);
		}
		close(fds[1]);
		std::string buf;
		char chunk[65536];
		for (;;) {
			ssize_t n = read(fds[0], chunk, sizeof(chunk));
			if (n < 0 && errno == EINTR)
				continue;
			if (n <= 0)
				break;
			buf.append(chunk, n);
		}
		close(fds[0]);
		int wstatus = 0;
		while (waitpid(pid, &wstatus, 0) < 0 && errno == EINTR)
			;
		if (WIFSIGNALED(wstatus)) {
			set_error(*r, EIO,
				  std::string("the compiler crashed (signal ") +
					  std::to_string(WTERMSIG(wstatus)) + ": " +
					  strsignal(WTERMSIG(wstatus)) + ")");
		} else if (!parse_frame(buf, *r)) {
			set_error(*r, EIO, "the compiler exited without a complete result");
		}
	} catch (const std::bad_alloc &) {
		set_error(*r, ENOMEM, "out of memory");
	}
	return r;
}

} // namespace

extern "C" {

BPFPM_API const char *bpfpm_compiler__version(void)
{
	static const std::string version =
		clang::getClangFullVersion() + "; target bpf; resource-dir " BPFPM_CLANG_RESOURCE_DIR
					       "; bpfpm compiler built " __DATE__ " " __TIME__;
	return version.c_str();
}

BPFPM_API struct bpfpm_compile_result *bpfpm_compiler__compile(const char *source, size_t source_len,
							       const char *main_name, const char *args,
							       size_t args_len)
{
	if (!source || !main_name || (!args && args_len)) {
		errno = EINVAL;
		auto *r = new (std::nothrow) bpfpm_compile_result();
		if (r)
			set_error(*r, EINVAL, "source and main_name are required");
		return r;
	}
	return run_forked(main_name, source, source_len, nullptr, args, args_len);
}

BPFPM_API struct bpfpm_compile_result *bpfpm_compiler__build_pch(const char *header_path,
								 const char *pch_path, const char *args,
								 size_t args_len)
{
	if (!header_path || !pch_path || (!args && args_len)) {
		auto *r = new (std::nothrow) bpfpm_compile_result();
		if (r)
			set_error(*r, EINVAL, "header_path and pch_path are required");
		return r;
	}
	return run_forked(header_path, nullptr, 0, pch_path, args, args_len);
}

BPFPM_API int bpfpm_compiler__result_status(const struct bpfpm_compile_result *r)
{
	return r ? r->status : -EINVAL;
}

BPFPM_API const uint8_t *bpfpm_compiler__result_data(const struct bpfpm_compile_result *r, int part)
{
	if (!r || part < 0 || part >= kParts)
		return nullptr;
	return reinterpret_cast<const uint8_t *>(r->parts[part].data());
}

BPFPM_API size_t bpfpm_compiler__result_size(const struct bpfpm_compile_result *r, int part)
{
	if (!r || part < 0 || part >= kParts)
		return 0;
	return r->parts[part].size();
}

BPFPM_API void bpfpm_compiler__result_free(struct bpfpm_compile_result *r) { delete r; }

} // extern "C"
