using Federated.Build;

namespace Federated.Core.Tests.Build;

/// <summary>
/// The build step that makes libLibTorchSharp.so load on hosts with an older libstdc++ (Debian 12).
/// On such a host these fail if the step stops running or patches the wrong copy.
/// </summary>
public class TorchSharpNativeCompatTests
{
    static readonly string OutputLibrary = Path.Combine(AppContext.BaseDirectory, "runtimes", "linux-x64", "native", "libLibTorchSharp.so");

    static string HostLibstdcxx() =>
        LibstdcxxVersionCompat.FindHostLibstdcxx() ?? throw new InvalidOperationException("no libstdc++.so.6 on this host");

    [Fact]
    public void Native_backend_trains_on_cpu_from_this_projects_build_output()
    {
        // Gradient descent on a least-squares problem: exercises the native library, autograd and BLAS.
        var gen = new Generator(1);
        using var x = randn(64, 8, generator: gen);
        using var target = x.matmul(randn(8, 1, generator: gen));
        using var w = zeros(8, 1).requires_grad_();
        double first = 0, last = 0;
        for (int step = 0; step < 50; step++)
        {
            using var scope = NewDisposeScope();
            var loss = (x.matmul(w) - target).pow(2).mean();
            loss.backward();
            using (no_grad()) w.sub_(w.grad! * 0.1);
            w.grad!.zero_();
            last = loss.item<float>();
            if (step == 0) first = last;
        }
        Assert.True(last < first * 0.05, $"loss {first} -> {last}");

        string loaded = File.ReadLines("/proc/self/maps").Where(l => l.EndsWith("/libLibTorchSharp.so", StringComparison.Ordinal))
            .Select(l => l[l.IndexOf('/')..]).First();
        Assert.Equal(OutputLibrary, loaded);
    }

    [Fact]
    public void Output_library_requires_no_libstdcxx_version_the_host_lacks_unless_weak()
    {
        var library = ElfSymbolVersions.Read(OutputLibrary);
        var missing = LibstdcxxVersionCompat.MissingRequirements(library, ElfSymbolVersions.Read(HostLibstdcxx()));
        Assert.All(missing, r => Assert.True(r.IsWeak, $"{r.Version} is required but absent from the host"));
        Assert.Contains(library.Requirements, r => r.File == "libstdc++.so.6" && r.Version == "GLIBCXX_3.4.32");
    }

    [Fact]
    public void Patch_weakens_exactly_the_versions_the_host_lacks_and_is_idempotent()
    {
        string copy = Path.Combine(Path.GetTempPath(), $"libLibTorchSharp-{Guid.NewGuid():N}.so");
        try
        {
            // Start from the library as NuGet ships it: no requirement weak.
            var shipped = ElfSymbolVersions.Read(OutputLibrary);
            var bytes = File.ReadAllBytes(OutputLibrary);
            foreach (var r in shipped.Requirements) bytes[r.FlagsOffset] &= unchecked((byte)~ElfSymbolVersions.VerFlagWeak);
            File.WriteAllBytes(copy, bytes);

            var host = ElfSymbolVersions.Read(HostLibstdcxx());
            var missing = LibstdcxxVersionCompat.MissingRequirements(ElfSymbolVersions.Read(copy), host).Select(r => r.Version).ToHashSet();
            LibstdcxxVersionCompat.Apply(copy, HostLibstdcxx());
            var patched = File.ReadAllBytes(copy);

            var after = ElfSymbolVersions.Read(copy);
            Assert.All(after.Requirements, r => Assert.Equal(missing.Contains(r.Version) && r.File == "libstdc++.so.6", r.IsWeak));
            // Nothing but those flag bytes changed.
            var flagOffsets = after.Requirements.Select(r => r.FlagsOffset).ToHashSet();
            Assert.Equal(bytes.Length, patched.Length);
            Assert.All(Enumerable.Range(0, bytes.Length).Where(i => bytes[i] != patched[i]), i => Assert.Contains((long)i, flagOffsets));

            Assert.Contains(missing.Count == 0 ? "nothing to do" : "already weak", LibstdcxxVersionCompat.Apply(copy, HostLibstdcxx()));
            Assert.Equal(patched, File.ReadAllBytes(copy));
        }
        finally
        {
            File.Delete(copy);
        }
    }

    [Fact]
    public void Only_the_unused_ios_base_library_init_symbol_carries_GLIBCXX_3_4_32()
    {
        // The premise of the patch: no relocation needs a symbol of that version.
        var library = ElfSymbolVersions.Read(OutputLibrary);
        var requirement = library.Requirements.Single(r => r.Version == "GLIBCXX_3.4.32");
        Assert.Empty(library.RelocatedSymbolsOfVersion(requirement.Index));
    }

    [Fact]
    public void Non_elf_input_is_rejected_with_a_clear_error()
    {
        string path = Path.GetTempFileName();
        File.WriteAllText(path, "not a library");
        try { Assert.Contains("not an ELF", Assert.Throws<InvalidDataException>(() => ElfSymbolVersions.Read(path)).Message); }
        finally { File.Delete(path); }
    }
}
