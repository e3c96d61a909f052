using Federated.Training.Data;

namespace Federated.Training.Tests.Data;

public class InstructionJsonlReaderTests
{
    const string ValidLine = """{"instruction": "Add", "input": "2 3", "output": "5"}""";

    [Fact]
    public void Reads_alpaca_and_dolly_lines_and_skips_blank_lines()
    {
        var text = ValidLine + "\n\n   \t\n" + """{"instruction": "Say hi", "context": null, "response": "hi"}""" + "\n";

        var records = InstructionJsonlReader.Read(new StringReader(text), "data.jsonl");

        Assert.Equal([new InstructionRecord("Add", "2 3", "5"), new InstructionRecord("Say hi", "", "hi")], records);
    }

    [Fact]
    public void Dolly_context_becomes_the_input()
    {
        var records = InstructionJsonlReader.Read(
            new StringReader("""{"instruction": "Summarize", "context": "Long text.", "response": "Short."}"""), "d.jsonl");

        Assert.Equal(new InstructionRecord("Summarize", "Long text.", "Short."), Assert.Single(records));
    }

    [Theory]
    [InlineData("""{"instruction": "Add", "output": "5\""", "malformed JSON")]
    [InlineData("""["Add", "5"]""", "expected a JSON object")]
    [InlineData("\"just a string\"", "expected a JSON object")]
    [InlineData("""{"input": "2 3", "output": "5"}""", "missing 'instruction'")]
    [InlineData("""{"instruction": "  ", "output": "5"}""", "missing 'instruction'")]
    [InlineData("""{"instruction": "Add", "input": "2 3"}""", "missing 'output' (Alpaca) or 'response' (Dolly)")]
    [InlineData("""{"instruction": "Add", "output": 5}""", "'output' must be a string, found Number")]
    [InlineData("""{"instruction": ["Add"], "output": "5"}""", "'instruction' must be a string, found Array")]
    [InlineData("""{"instruction": "Add", "input": {"a": 2}, "output": "5"}""", "'input' must be a string, found Object")]
    [InlineData("""{"instruction": "Add", "output": "5", "response": "5"}""", "both 'output' (Alpaca) and 'response' (Dolly)")]
    public void A_bad_line_is_reported_with_the_file_and_its_1_based_line_number(string badLine, string expected)
    {
        using var dir = new TempDirectory();
        var path = dir.Write("train.jsonl", ValidLine + "\n  \n" + badLine + "\n" + ValidLine + "\n");

        var error = Assert.Throws<TrainingDataException>(() => InstructionJsonlReader.ReadFile(path));

        Assert.Equal(path, error.FilePath);
        Assert.Equal(3, error.LineNumber);
        Assert.StartsWith($"{path}:3: ", error.Message);
        Assert.Contains(expected, error.Message);
    }

    [Fact]
    public void Data_errors_are_io_errors_so_commands_report_them_as_bad_input() =>
        Assert.IsAssignableFrom<IOException>(new TrainingDataException("f", 1, "x"));
}
