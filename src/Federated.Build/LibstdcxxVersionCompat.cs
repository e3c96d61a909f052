// Compiled by MSBuild's RoslynCodeTaskFactory (see TorchSharpNativeCompat.targets) and linked into
// Federated.Core.Tests, so the build step and its test share one implementation.
//
// Why: TorchSharp 0.107's libLibTorchSharp.so was linked by GCC 13 and requires GLIBCXX_3.4.32, which
// Debian 12's libstdc++ (GCC 12) lacks, so the library refuses to load. The only symbol under that
// version is std::ios_base_library_init(), which GCC 13's <iostream> references without calling
// (a `.globl` that only pins the version). When no relocation uses a symbol of a missing version,
// marking that version requirement weak (VER_FLG_WEAK) lets glibc load the library with nothing
// left unresolved. Hosts whose libstdc++ has the version are left untouched.
#nullable enable
using System;
using System.Collections.Generic;
using System.Diagnostics;
using System.IO;
using System.Linq;
using System.Text;

namespace Federated.Build
{
    /// <summary>Reads and patches the GNU symbol-versioning sections of an ELF64 little-endian shared object.</summary>
    public sealed class ElfSymbolVersions
    {
        const uint ShtRela = 4, ShtRel = 9, ShtDynsym = 11;
        const uint ShtGnuVerdef = 0x6ffffffd, ShtGnuVerneed = 0x6ffffffe, ShtGnuVersym = 0x6fffffff;
        public const ushort VerFlagWeak = 0x2;

        readonly byte[] _image;
        readonly List<Section> _sections = new List<Section>();

        struct Section { public uint Type; public ulong Offset, Size, EntSize; public uint Link, Info; }

        /// <summary>One required version: the library that must provide it and where its flags live in the file.</summary>
        public sealed class Requirement
        {
            public string File { get; set; } = "";
            public string Version { get; set; } = "";
            public ushort Index { get; set; }
            public ushort Flags { get; set; }
            public long FlagsOffset { get; set; }
            public bool IsWeak => (Flags & VerFlagWeak) != 0;
        }

        public IReadOnlyList<Requirement> Requirements { get; }
        public IReadOnlyList<string> Definitions { get; }

        ElfSymbolVersions(byte[] image)
        {
            _image = image;
            if (image.Length < 64 || image[0] != 0x7f || image[1] != (byte)'E' || image[2] != (byte)'L' || image[3] != (byte)'F')
                throw new InvalidDataException("not an ELF file");
            if (image[4] != 2 || image[5] != 1)
                throw new InvalidDataException("only 64-bit little-endian ELF files are supported");
            ulong shoff = U64(0x28);
            int shentsize = U16(0x3A), shnum = U16(0x3C);
            for (int i = 0; i < shnum; i++)
            {
                long h = checked((long)shoff + (long)i * shentsize);
                _sections.Add(new Section
                {
                    Type = U32(h + 4), Offset = U64(h + 24), Size = U64(h + 32),
                    Link = U32(h + 40), Info = U32(h + 44), EntSize = U64(h + 56),
                });
            }
            Requirements = ReadRequirements();
            Definitions = ReadDefinitions();
        }

        public static ElfSymbolVersions Read(string path) => new ElfSymbolVersions(File.ReadAllBytes(path));

        List<Requirement> ReadRequirements()
        {
            var result = new List<Requirement>();
            foreach (var s in _sections.Where(s => s.Type == ShtGnuVerneed))
            {
                long entry = (long)s.Offset;
                for (uint n = 0; n < s.Info; n++)
                {
                    string file = Str(s.Link, U32(entry + 4));
                    long aux = entry + U32(entry + 8);
                    for (int a = 0; a < U16(entry + 2); a++)
                    {
                        result.Add(new Requirement
                        {
                            File = file, Version = Str(s.Link, U32(aux + 8)),
                            Flags = U16(aux + 4), FlagsOffset = aux + 4, Index = (ushort)(U16(aux + 6) & 0x7fff),
                        });
                        aux += U32(aux + 12);
                    }
                    entry += U32(entry + 12);
                }
            }
            return result;
        }

        List<string> ReadDefinitions()
        {
            var result = new List<string>();
            foreach (var s in _sections.Where(s => s.Type == ShtGnuVerdef))
            {
                long entry = (long)s.Offset;
                for (uint n = 0; n < s.Info; n++)
                {
                    long aux = entry + U32(entry + 12);
                    result.Add(Str(s.Link, U32(aux)));
                    entry += U32(entry + 16);
                }
            }
            return result;
        }

        /// <summary>Dynamic symbols whose version index is <paramref name="versionIndex"/> and that a dynamic relocation uses.</summary>
        public IReadOnlyList<string> RelocatedSymbolsOfVersion(ushort versionIndex)
        {
            int dynsymIndex = _sections.FindIndex(s => s.Type == ShtDynsym);
            if (dynsymIndex < 0) return Array.Empty<string>();
            var dynsym = _sections[dynsymIndex];
            var versym = _sections.FirstOrDefault(s => s.Type == ShtGnuVersym);
            if (versym.Type == 0) return Array.Empty<string>();

            var used = new HashSet<uint>();
            foreach (var rel in _sections.Where(s => (s.Type == ShtRela || s.Type == ShtRel) && s.Link == dynsymIndex && s.EntSize > 0))
                for (ulong off = 0; off + rel.EntSize <= rel.Size; off += rel.EntSize)
                    used.Add((uint)(U64((long)(rel.Offset + off) + 8) >> 32));

            var names = new List<string>();
            foreach (uint sym in used)
            {
                if (sym == 0) continue;
                if ((U16((long)versym.Offset + 2L * sym) & 0x7fff) == versionIndex)
                    names.Add(Str(dynsym.Link, U32((long)(dynsym.Offset + sym * dynsym.EntSize))));
            }
            return names;
        }

        /// <summary>Returns the image with <see cref="VerFlagWeak"/> set on the given requirements.</summary>
        public byte[] WithWeakRequirements(IEnumerable<Requirement> requirements)
        {
            var copy = (byte[])_image.Clone();
            foreach (var r in requirements)
            {
                ushort flags = (ushort)(r.Flags | VerFlagWeak);
                copy[r.FlagsOffset] = (byte)flags;
                copy[r.FlagsOffset + 1] = (byte)(flags >> 8);
            }
            return copy;
        }

        ushort U16(long o) => (ushort)(_image[o] | _image[o + 1] << 8);
        uint U32(long o) => BitConverter.ToUInt32(_image, checked((int)o));
        ulong U64(long o) => BitConverter.ToUInt64(_image, checked((int)o));

        string Str(uint strtabSection, uint offset)
        {
            long start = (long)_sections[(int)strtabSection].Offset + offset, end = start;
            while (_image[end] != 0) end++;
            return Encoding.ASCII.GetString(_image, (int)start, (int)(end - start));
        }
    }

    /// <summary>Decides and applies the compat patch for one native library against the host's libstdc++.</summary>
    public static class LibstdcxxVersionCompat
    {
        public const string LibstdcxxSoname = "libstdc++.so.6";

        /// <summary>Where the dynamic loader finds libstdc++.so.6 on this host, or null if it cannot be found.</summary>
        public static string? FindHostLibstdcxx()
        {
            foreach (var ldconfig in new[] { "/sbin/ldconfig", "/usr/sbin/ldconfig" })
            {
                if (!File.Exists(ldconfig)) continue;
                try
                {
                    var psi = new ProcessStartInfo(ldconfig, "-p") { RedirectStandardOutput = true, UseShellExecute = false };
                    using var p = Process.Start(psi)!;
                    string output = p.StandardOutput.ReadToEnd();
                    p.WaitForExit();
                    foreach (var line in output.Split('\n'))
                        if (line.TrimStart().StartsWith(LibstdcxxSoname + " ", StringComparison.Ordinal) && line.Contains("x86-64"))
                            return line.Substring(line.IndexOf("=>", StringComparison.Ordinal) + 2).Trim();
                }
                catch (Exception) { /* fall back to the usual locations */ }
            }
            return new[] { "/lib/x86_64-linux-gnu/", "/usr/lib/x86_64-linux-gnu/", "/usr/lib64/", "/lib64/", "/usr/lib/" }
                .Select(d => d + LibstdcxxSoname).FirstOrDefault(File.Exists);
        }

        /// <summary>
        /// The libstdc++ version requirements of <paramref name="library"/> that the host lacks. Throws when
        /// one of them is actually used by a relocation: then weakening would leave a symbol unresolved.
        /// </summary>
        public static IReadOnlyList<ElfSymbolVersions.Requirement> MissingRequirements(ElfSymbolVersions library, ElfSymbolVersions hostLibstdcxx)
        {
            var provided = new HashSet<string>(hostLibstdcxx.Definitions, StringComparer.Ordinal);
            var missing = library.Requirements
                .Where(r => r.File == LibstdcxxSoname && !provided.Contains(r.Version))
                .ToList();
            foreach (var r in missing)
            {
                var used = library.RelocatedSymbolsOfVersion(r.Index);
                if (used.Count > 0)
                    throw new InvalidOperationException(
                        $"the host libstdc++ lacks {r.Version}, which symbols {string.Join(", ", used)} need at run time; " +
                        "install a newer libstdc++6 (GCC 13 or later) to use TorchSharp here");
            }
            return missing;
        }

        /// <summary>Patches <paramref name="libraryPath"/> in place if needed. Returns a one-line description of what was done.</summary>
        public static string Apply(string libraryPath, string hostLibstdcxxPath)
        {
            var library = ElfSymbolVersions.Read(libraryPath);
            var missing = MissingRequirements(library, ElfSymbolVersions.Read(hostLibstdcxxPath));
            if (missing.Count == 0)
                return $"{Path.GetFileName(libraryPath)}: host {hostLibstdcxxPath} provides every required GLIBCXX version, nothing to do";
            var toWeaken = missing.Where(r => !r.IsWeak).ToList();
            string versions = string.Join(", ", missing.Select(r => r.Version));
            if (toWeaken.Count == 0)
                return $"{Path.GetFileName(libraryPath)}: {versions} already weak";

            // Write beside and rename over: a reader never sees a half-written library, and a hard link
            // into the NuGet cache (CreateHardLinksForCopyLocalIfPossible) is replaced, never written through.
            string temp = libraryPath + ".compat-tmp";
            File.WriteAllBytes(temp, library.WithWeakRequirements(toWeaken));
            File.Replace(temp, libraryPath, destinationBackupFileName: null);
            return $"{Path.GetFileName(libraryPath)}: marked {versions} weak (absent from host {hostLibstdcxxPath}, no relocation uses it)";
        }
    }

#if !FEDERATED_BUILD_NO_MSBUILD
    /// <summary>MSBuild task: applies <see cref="LibstdcxxVersionCompat"/> to the given native libraries on Linux x64 hosts.</summary>
    public sealed class PatchTorchSharpNativeForHostLibstdcxx : Microsoft.Build.Utilities.Task
    {
        [Microsoft.Build.Framework.Required]
        public Microsoft.Build.Framework.ITaskItem[] Libraries { get; set; } = Array.Empty<Microsoft.Build.Framework.ITaskItem>();

        public override bool Execute()
        {
            if (!System.Runtime.InteropServices.RuntimeInformation.IsOSPlatform(System.Runtime.InteropServices.OSPlatform.Linux)
                || System.Runtime.InteropServices.RuntimeInformation.OSArchitecture != System.Runtime.InteropServices.Architecture.X64)
                return true;
            string? host = LibstdcxxVersionCompat.FindHostLibstdcxx();
            if (host == null)
            {
                Log.LogWarning("TorchSharp native compat: libstdc++.so.6 not found on this host; leaving native libraries as they are");
                return true;
            }
            foreach (var item in Libraries)
            {
                try
                {
                    Log.LogMessage(Microsoft.Build.Framework.MessageImportance.Normal, "TorchSharp native compat: " + LibstdcxxVersionCompat.Apply(item.ItemSpec, host));
                }
                catch (Exception e) when (e is InvalidOperationException || e is InvalidDataException || e is IOException)
                {
                    Log.LogError($"TorchSharp native compat: {item.ItemSpec}: {e.Message}");
                }
            }
            return !Log.HasLoggedErrors;
        }
    }
#endif
}
