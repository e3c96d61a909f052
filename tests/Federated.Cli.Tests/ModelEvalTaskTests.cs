using System.Globalization;
using System.Text.RegularExpressions;
using Federated.Cli;
using Federated.Training.Data.Corpora;

namespace Federated.Cli.Tests;

/// <summary><c>fed model eval --task wordnet-mc</c> on a real tiny model and Debian's WordNet.</summary>
public sealed partial class ModelEvalTaskTests : IDisposable
{
    readonly string _dir = Directory.CreateTempSubdirectory("fed-model-mc-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    static (int Exit, string Out, string Err) Fed(params string[] args)
    {
        var output = new StringWriter();
        var error = new StringWriter();
        return (FedCommandLine.Run(args, output, error), output.ToString(), error.ToString());
    }

    string TinyModel()
    {
        string dir = Path.Combine(_dir, "tiny");
        Assert.Equal(0, Fed("model", "init", "--out", dir, "--seed", "3").Exit);
        return dir;
    }

    [Fact]
    public void Wordnet_mc_prints_each_directions_accuracy_inside_its_interval_globally_and_per_domain()
    {
        var r = Fed("model", "eval", "--model", TinyModel(), "--task", "wordnet-mc", "--domains", "noun.food", "verb.motion", "--items", "30", "--seed", "2");

        Assert.True(r.Exit == 0, r.Err);
        var lines = r.Out.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.StartsWith("wordnet-mc: ", lines[0]);
        foreach (var label in new[] { "word -> definition: accuracy ", "definition -> word: accuracy " })
        {
            var (value, lower, upper, correct, total) = Parse(Assert.Single(lines, l => l.StartsWith(label)));
            Assert.Equal(30, total);
            Assert.Equal(correct / (double)total, value, 4);
            Assert.InRange(value, lower, upper);
        }
        Assert.Contains(lines, l => l.StartsWith("  noun.food: word -> definition "));
        Assert.Contains(lines, l => l.StartsWith("  verb.motion: word -> definition "));
    }

    [Fact]
    public void A_partitions_global_held_out_file_gives_the_same_accuracy_as_the_split_recomputed_from_the_seed()
    {
        string model = TinyModel();
        string[] domains = ["noun.food", "verb.motion"];
        var corpus = WordNetGlosses.Read().Where(e => domains.Contains(e.Domain)).ToList();
        var partition = Partitioning.Partition(corpus, new PartitionScheme.Natural(), new PartitionOptions(4, 5));
        PartitionFiles.Write(partition, Path.Combine(_dir, "partition"));

        var fromSeed = Fed("model", "eval", "--model", model, "--task", "wordnet-mc", "--domains", "noun.food", "verb.motion", "--seed", "5", "--items", "20");
        var fromFile = Fed("model", "eval", "--model", model, "--task", "wordnet-mc", "--data", Path.Combine(_dir, "partition", PartitionFiles.GlobalHeldOutFile), "--seed", "5", "--items", "20");

        Assert.True(fromSeed.Exit == 0 && fromFile.Exit == 0, fromSeed.Err + fromFile.Err);
        Assert.Equal(fromSeed.Out, fromFile.Out);
    }

    [Fact]
    public void The_loss_task_still_needs_data_and_an_unknown_domain_is_one_line()
    {
        string model = TinyModel();

        var noData = Fed("model", "eval", "--model", model);
        var badDomain = Fed("model", "eval", "--model", model, "--task", "wordnet-mc", "--domains", "noun.unicorn");

        Assert.Equal(FedCommandLine.ExitUsage, noData.Exit);
        Assert.Contains("--data is required for --task loss", noData.Err);
        Assert.Equal(FedCommandLine.ExitFailure, badDomain.Exit);
        Assert.Equal("fed: error: --domains: 'noun.unicorn' is not a WordNet lexicographer file (e.g. noun.animal, verb.motion, adj.all)", badDomain.Err.Trim());
    }

    static (double Value, double Lower, double Upper, int Correct, int Total) Parse(string line)
    {
        var m = Estimate().Match(line);
        Assert.True(m.Success, line);
        double D(int g) => double.Parse(m.Groups[g].Value, CultureInfo.InvariantCulture);
        return (D(1), D(2), D(3), int.Parse(m.Groups[4].Value, CultureInfo.InvariantCulture), int.Parse(m.Groups[5].Value, CultureInfo.InvariantCulture));
    }

    [GeneratedRegex(@"accuracy (\d\.\d+) \[(\d\.\d+), (\d\.\d+)\] \((\d+)/(\d+)\)")]
    private static partial Regex Estimate();
}
