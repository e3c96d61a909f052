using Federated.Training.Data;
using Federated.Training.Data.Corpora;
using Federated.Training.Tokenization;

namespace Federated.Training.Tests.Data.Corpora;

public class DomainDatasetsTests
{
    static readonly ByteLevelTokenizer Tokenizer = ByteLevelTokenizer.Instance;

    [Fact]
    public void Domain_examples_train_exactly_like_jsonl_instruction_data_with_the_prompt_masked()
    {
        var example = WordNetGlosses.ToExample(InstalledCorpora.Synsets.First(s => s.Words[0] == "dog"));

        var built = Assert.Single(DomainDatasets.Build([example], Tokenizer, maxLength: 512).Examples);

        var fromRecord = InstructionDataset.ToExample(new InstructionRecord(example.Instruction, example.Input, example.Output), Tokenizer, 512)!;
        Assert.Equal(fromRecord.InputIds, built.InputIds);
        Assert.Equal(fromRecord.Labels, built.Labels);
        var promptTokens = 1 + PromptTemplate.Format(example.Record).Length; // BOS + one byte per ASCII character
        Assert.All(built.Labels.Take(promptTokens), l => Assert.Equal(TrainingExample.IgnoreIndex, l));
        Assert.All(built.Labels.Skip(promptTokens), l => Assert.NotEqual(TrainingExample.IgnoreIndex, l));
    }

    [Fact]
    public void Datasets_by_domain_hold_each_domains_examples_in_name_order()
    {
        DomainExample[] examples = [new("it", "Tell me a fortune.", "", "Chi va piano va sano."), new("de", "Tell me a fortune.", "", "Eile mit Weile."), new("it", "Tell me a fortune.", "", "Ciao.")];

        var byDomain = DomainDatasets.BuildByDomain(examples, Tokenizer, maxLength: 256);

        Assert.Equal(["de", "it"], byDomain.Keys);
        Assert.Single(byDomain["de"].Examples);
        Assert.Equal(2, byDomain["it"].Examples.Count);
    }
}
