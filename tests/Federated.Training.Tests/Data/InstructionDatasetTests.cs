using System.Text;
using Federated.Training.Data;
using Federated.Training.Tokenization;

namespace Federated.Training.Tests.Data;

public class InstructionDatasetTests
{
    const int Bos = ByteLevelTokenizer.Bos;
    const int Eos = ByteLevelTokenizer.Eos;
    const int Ignore = TrainingExample.IgnoreIndex;
    static readonly ByteLevelTokenizer Tokenizer = ByteLevelTokenizer.Instance;

    const string AlpacaPrompt = "### Instruction:\nAdd\n\n### Input:\n2 3\n\n### Response:\n";
    const string DollyPromptWithoutContext = "### Instruction:\nSay hi\n\n### Response:\n";

    static int[] Bytes(string text) => Encoding.UTF8.GetBytes(text).Select(b => (int)b).ToArray();

    static int[] Masked(int count) => Enumerable.Repeat(Ignore, count).ToArray();

    [Fact]
    public void The_prompt_template_has_an_input_section_only_when_there_is_input()
    {
        Assert.Equal(AlpacaPrompt, PromptTemplate.Format(new InstructionRecord("Add", "2 3", "5")));
        Assert.Equal(DollyPromptWithoutContext, PromptTemplate.Format(new InstructionRecord("Say hi", "", "hi")));
    }

    [Fact]
    public void An_alpaca_line_becomes_bos_prompt_answer_eos_with_only_the_answer_and_eos_labelled()
    {
        using var dir = new TempDirectory();
        var path = dir.Write("a.jsonl", """{"instruction": "Add", "input": "2 3", "output": "5"}""");

        var dataset = InstructionDataset.Load(path, Tokenizer, maxLength: 512);

        var example = Assert.Single(dataset.Examples);
        Assert.Equal([Bos, .. Bytes(AlpacaPrompt), '5', Eos], example.InputIds);
        Assert.Equal([.. Masked(1 + AlpacaPrompt.Length), '5', Eos], example.Labels);
        Assert.Equal(0, dataset.Skipped);
    }

    [Fact]
    public void A_dolly_line_without_context_uses_the_prompt_without_input()
    {
        using var dir = new TempDirectory();
        var path = dir.Write("d.jsonl", """{"instruction": "Say hi", "context": "", "response": "hi"}""");

        var example = Assert.Single(InstructionDataset.Load(path, Tokenizer, maxLength: 512).Examples);

        Assert.Equal([Bos, .. Bytes(DollyPromptWithoutContext), 'h', 'i', Eos], example.InputIds);
        Assert.Equal([.. Masked(1 + DollyPromptWithoutContext.Length), 'h', 'i', Eos], example.Labels);
    }

    [Fact]
    public void An_example_that_fits_exactly_keeps_its_eos()
    {
        var record = new InstructionRecord("Say hi", "", "hi");

        var example = InstructionDataset.ToExample(record, Tokenizer, maxLength: 1 + DollyPromptWithoutContext.Length + 3);

        Assert.Equal(Eos, example!.InputIds[^1]);
    }

    [Fact]
    public void A_long_answer_is_cut_at_its_end_and_loses_its_eos()
    {
        var record = new InstructionRecord("Say hi", "", "hello");

        var example = InstructionDataset.ToExample(record, Tokenizer, maxLength: 1 + DollyPromptWithoutContext.Length + 2);

        Assert.Equal([Bos, .. Bytes(DollyPromptWithoutContext), 'h', 'e'], example!.InputIds);
        Assert.Equal([.. Masked(1 + DollyPromptWithoutContext.Length), 'h', 'e'], example.Labels);
    }

    [Fact]
    public void A_prompt_leaving_room_for_one_answer_token_is_kept()
    {
        var example = InstructionDataset.ToExample(new InstructionRecord("Say hi", "", "hello"), Tokenizer,
            maxLength: 1 + DollyPromptWithoutContext.Length + 1);

        Assert.Equal(['h'], example!.Labels.Where(label => label != Ignore));
    }

    [Fact]
    public void Examples_whose_prompt_fills_the_length_are_skipped_and_counted()
    {
        var records = new[]
        {
            new InstructionRecord("Say hi", "", "hi"),
            new InstructionRecord("Say hi", "with a long input that does not fit", "hi"),
        };

        var dataset = InstructionDataset.Build(records, Tokenizer, maxLength: 1 + DollyPromptWithoutContext.Length + 3);

        Assert.Single(dataset.Examples);
        Assert.Equal(1, dataset.Skipped);
    }
}
