using Federated.Training.Data;
using Federated.Training.Data.Corpora;

namespace Federated.Training.Tests.Data.Corpora;

public class DomainJsonlTests
{
    [Fact]
    public void Written_examples_read_back_unchanged_with_their_domains()
    {
        using var dir = new TempDirectory();
        DomainExample[] examples =
        [
            new("noun.animal", "Define the noun.", "dog (also: domestic dog)", "a member of the genus Canis; \"quoted\""),
            new("ru", "Tell me a fortune.", "", "Не всё то золото,\nчто блестит.\ttab"),
        ];
        var path = dir.File("sub/data.jsonl");

        DomainJsonl.WriteFile(examples, path);

        Assert.Equal(examples, DomainJsonl.ReadFile(path));
        Assert.Contains("Не всё то золото", File.ReadAllText(path), StringComparison.Ordinal); // readable, not \u escapes
        Assert.Equal(2, File.ReadAllLines(path).Length);
    }

    [Fact]
    public void Written_lines_are_alpaca_instruction_data_with_a_domain_field()
    {
        var writer = new StringWriter();

        DomainJsonl.Write([new DomainExample("adv.all", "Define the adverb.", "quickly", "with speed")], writer);

        Assert.Equal("""{"instruction":"Define the adverb.","input":"quickly","output":"with speed","domain":"adv.all"}""" + "\n", writer.ToString());
        Assert.Equal(new InstructionRecord("Define the adverb.", "quickly", "with speed"),
            Assert.Single(InstructionJsonlReader.Read(new StringReader(writer.ToString()), "x.jsonl")));
    }

    [Fact]
    public void A_users_file_without_domains_takes_its_file_name_as_the_domain()
    {
        using var dir = new TempDirectory();
        var path = dir.Write("cardiology.jsonl", """
            {"instruction": "Explain", "input": "ECG", "output": "A recording of the heart's electrical activity."}
            {"instruction": "Summarize", "context": "Long note.", "response": "Short.", "domain": "notes"}
            {"instruction": "Say hi", "output": "hi", "domain": null}
            """);

        var examples = DomainJsonl.ReadFile(path);

        Assert.Equal(["cardiology", "notes", "cardiology"], examples.Select(e => e.Domain));
        Assert.Equal(new DomainExample("notes", "Summarize", "Long note.", "Short."), examples[1]);
        Assert.Equal("clinic", DomainJsonl.ReadFile(path, defaultDomain: "clinic")[0].Domain);
    }

    [Fact]
    public void A_domain_that_is_not_a_string_names_the_file_and_line()
    {
        var text = """{"instruction": "a", "output": "b"}""" + "\n" + """{"instruction": "a", "output": "b", "domain": 7}""";

        var error = Assert.Throws<TrainingDataException>(() => DomainJsonl.Read(new StringReader(text), "mine.jsonl", "x"));

        Assert.Equal("mine.jsonl:2: 'domain' must be a string, found Number", error.Message);
    }

    [Fact]
    public void A_partition_is_written_as_train_and_eval_files_per_client_and_one_global_held_out_file()
    {
        using var dir = new TempDirectory();
        var examples = Enumerable.Range(0, 60).Select(i => new DomainExample($"d{i % 3}", "Count.", "", i.ToString(System.Globalization.CultureInfo.InvariantCulture))).ToList();
        var partition = Partitioning.Partition(examples, new PartitionScheme.Natural(), new PartitionOptions(3, Seed: 1));

        PartitionFiles.Write(partition, dir.Path);

        foreach (var client in partition.Clients)
        {
            var clientDirectory = PartitionFiles.ClientDirectory(dir.Path, client.Client);
            Assert.Equal(client.Train, DomainJsonl.ReadFile(Path.Combine(clientDirectory, "train.jsonl")));
            Assert.Equal(client.Evaluation, DomainJsonl.ReadFile(Path.Combine(clientDirectory, "eval.jsonl")));
        }
        Assert.Equal(partition.GlobalHeldOut, DomainJsonl.ReadFile(Path.Combine(dir.Path, PartitionFiles.GlobalHeldOutFile)));
        Assert.True(Directory.Exists(Path.Combine(dir.Path, "client-002")));
    }
}
