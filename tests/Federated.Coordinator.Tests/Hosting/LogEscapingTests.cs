using Federated.Coordinator.Hosting;
using Serilog;
using Serilog.Core;
using Serilog.Events;
using Serilog.Formatting.Display;

namespace Federated.Coordinator.Tests.Hosting;

public class LogEscapingTests
{
    [Fact]
    public void A_newline_in_a_logged_value_cannot_forge_a_line_of_the_text_log()
    {
        var output = new StringWriter();
        using (var logger = new LoggerConfiguration()
                   .Enrich.With<ControlCharacterEscaping>()
                   .WriteTo.Sink(new TextSink(output))
                   .CreateLogger())
        {
            logger.Information("Client {Client} reports {@Metrics} for {Federation}",
                "c-1\n[ERR] forged", new Dictionary<string, object> { ["loss\r\n[ERR] x"] = 1.5, ["ok"] = "a\u001b[31mred" }, new[] { "fed\u2028x" });
        }

        string text = output.ToString();
        Assert.Single(text.Split('\n', StringSplitOptions.RemoveEmptyEntries));
        Assert.Contains("c-1\\n[ERR] forged", text);
        // Inside structures the escaped text is JSON-escaped once more; what matters is that no control character is left.
        Assert.DoesNotContain(text.TrimEnd('\n'), c => char.IsControl(c) || c == '\u2028');
        Assert.Contains("[ERR] x", text);
    }

    /// <summary>Serilog's text formatting, as the console sink's text mode uses it.</summary>
    sealed class TextSink(TextWriter output) : ILogEventSink
    {
        readonly MessageTemplateTextFormatter _formatter = new("[{Level:u3}] {Message:lj}{NewLine}", System.Globalization.CultureInfo.InvariantCulture);
        public void Emit(LogEvent logEvent) => _formatter.Format(logEvent, output);
    }

    [Fact]
    public void Values_without_control_characters_are_logged_unchanged()
    {
        Assert.Equal("plain value: ünïcode, quotes \" and \\", ControlCharacterEscaping.Escape("plain value: ünïcode, quotes \" and \\"));
    }
}
