{#- The print page's cover (mkdocs-print-site-plugin's own, its labels in the edition's language). -#}
{%- set pt = config.theme.language == "pt" -%}
<div>
    {% if config.site_name %}
        <h1>{{ config.site_name }}</h1>
    {% endif %}
</div>

<table>
    {% if config.site_description %}
    <tr>
        <td>{{ "Descrição" if pt else "Description" }}</td>
        <td>{{ config.site_description }}</td>
    </tr>
    {% endif %}
    {% if config.repo_url %}
    <tr>
        <td>{{ "Repositório" if pt else "Repository" }}</td>
        <td><a href="{{ config.repo_url }}">{{ config.repo_url }}</a></td>
    </tr>
    {% endif %}
    {% if config.copyright %}
    <tr>
        <td>{{ "Direitos" if pt else "Copyright" }}</td>
        <td>{{ config.copyright }}</td>
    </tr>
    {% endif %}
</table>
